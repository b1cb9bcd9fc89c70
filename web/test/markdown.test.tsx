import { describe, expect, it } from 'vitest';
import { render } from 'preact-render-to-string';
import { isEmojiOnly, parse, parseInline, plainText, safeHref } from '../src/lib/markdown';
import { Markdown } from '../src/lib/markdown-render';

const html = (text: string, me = 'alice') =>
  render(<Markdown text={text} ctx={{ me, isUser: (n) => ['alice', 'bob'].includes(n) }} />);

describe('Markdown safety: raw HTML never executes', () => {
  const attacks = [
    '<script>alert(1)</script>',
    '<img src=x onerror=alert(1)>',
    '<a href="javascript:alert(1)">x</a>',
    '<iframe src="https://evil.example"></iframe>',
    '<svg onload=alert(1)>',
    '<style>body{display:none}</style>',
    '**<b onmouseover=alert(1)>bold</b>**',
    '`<script>`',
    '```\n<script>alert(1)</script>\n```',
    '> <img src=x onerror=alert(1)>',
    '- <script>x</script>',
  ];
  for (const a of attacks) {
    it(JSON.stringify(a), () => {
      const out = html(a);
      expect(out).not.toMatch(/<(script|img|iframe|svg|style|b)\b/i);
      expect(out).not.toMatch(/<[a-z][^>]*\son\w+=/i);
      expect(out).not.toMatch(/href="\s*javascript/i);
      expect(out).toContain('&lt;');
    });
  }

  it('links only get http(s) and mailto targets', () => {
    for (const bad of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'data:text/html,<b>x</b>', 'vbscript:x', ' javascript:x', 'java\tscript:x']) {
      expect(safeHref(bad)).toBeNull();
      const out = html(`[click](${bad})`);
      expect(out).not.toContain('href');
    }
    expect(safeHref('https://example.com/a?b=1')).toBe('https://example.com/a?b=1');
    expect(safeHref('mailto:a@b.c')).toBe('mailto:a@b.c');
    expect(safeHref('www.example.com')).toBe('https://www.example.com');
  });

  it('links open safely', () => {
    const out = html('see https://example.com/x.');
    expect(out).toContain('href="https://example.com/x"');
    expect(out).toContain('rel="noopener noreferrer nofollow"');
    expect(out).toContain('target="_blank"');
    expect(out).toMatch(/<\/a>\.<\/p>/);
  });

  it('attribute values are escaped', () => {
    const out = html('[x](https://e.com/"onmouseover="alert(1))');
    expect(out).not.toMatch(/"\s*onmouseover=/);
  });
});

describe('Markdown rendering', () => {
  it('renders emphasis, code, strike and line breaks', () => {
    expect(html('**bold** *it* _it_ ~~gone~~ `co*de*`\nnext')).toBe(
      '<div class="md"><p><strong>bold</strong> <em>it</em> <em>it</em> <del>gone</del> <code>co*de*</code><br/>next</p></div>',
    );
  });

  it('does not italicise snake_case or arithmetic', () => {
    expect(html('snake_case_name and 2 * 3 * 4')).toBe('<div class="md"><p>snake_case_name and 2 * 3 * 4</p></div>');
  });

  it('renders fenced code verbatim', () => {
    const out = html('```js\nconst a = **1**;\n<b>\n```');
    expect(out).toBe('<div class="md"><pre data-lang="js"><code>const a = **1**;\n&lt;b></code></pre></div>');
  });

  it('renders lists and quotes', () => {
    expect(parse('- a\n- b\n\n1. x\n2. y\n\n> q')).toEqual([
      { t: 'ul', items: [[{ t: 'p', c: [{ t: 'text', v: 'a' }] }], [{ t: 'p', c: [{ t: 'text', v: 'b' }] }]] },
      { t: 'ol', start: 1, items: [[{ t: 'p', c: [{ t: 'text', v: 'x' }] }], [{ t: 'p', c: [{ t: 'text', v: 'y' }] }]] },
      { t: 'quote', c: [{ t: 'p', c: [{ t: 'text', v: 'q' }] }] },
    ]);
  });

  it('highlights mentions of the viewer and of everyone; unknown names stay text', () => {
    const out = html('hi @alice and @bob, @here! mail bob@example.com, @nobody');
    expect(out).toContain('<span class="mention mention-me" data-username="alice">@alice</span>');
    expect(out).toContain('<span class="mention" data-username="bob">@bob</span>');
    expect(out).toContain('<span class="mention mention-me">@here</span>');
    expect(out).toContain('bob@example.com');
    expect(out).toContain('@nobody');
    expect(out).not.toContain('data-username="nobody"');
  });

  it('handles Chinese text and emoji short names', () => {
    expect(html('你好 **世界** :tada:')).toBe(
      '<div class="md"><p>你好 <strong>世界</strong> <span class="emoji" title=":tada:">🎉</span></p></div>',
    );
    expect(isEmojiOnly('🎉🎉')).toBe(true);
    expect(isEmojiOnly(':tada: :+1:')).toBe(true);
    expect(isEmojiOnly('ok 🎉')).toBe(false);
  });

  it('is quick on hostile input', () => {
    const start = Date.now();
    parseInline('*a_'.repeat(5000) + '`'.repeat(3000) + '[('.repeat(2000));
    parse('> '.repeat(2000) + 'x\n' + '- '.repeat(2000));
    expect(Date.now() - start).toBeLessThan(1500);
  });

  it('makes plain previews', () => {
    expect(plainText('**Deploy** done: `v2`\n- a\n- b')).toBe('Deploy done: v2 a · b');
  });
});
