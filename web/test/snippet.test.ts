import { describe, expect, it } from 'vitest';
import { cleanSnippet } from '../src/lib/snippet';

const text = (segs: { text: string; hit: boolean }[]) => segs.map((s) => (s.hit ? `[${s.text}]` : s.text)).join('');

describe('search snippets read as the message does', () => {
  it('drop Markdown marks and keep the highlighted words', () => {
    const got = cleanSnippet([
      { text: 'The **', hit: false },
      { text: 'budget', hit: true },
      { text: '** is in `plan.xlsx`, see [the sheet](https://example.com/x) and *soon*.', hit: false },
    ]);
    expect(text(got)).toBe('The [budget] is in plan.xlsx, see the sheet and soon.');
  });

  it('drop quote and heading marks at line starts, keep snake_case words', () => {
    expect(text(cleanSnippet([{ text: '> quoted ', hit: false }, { text: '会议', hit: true }]))).toBe('quoted [会议]');
    expect(text(cleanSnippet([{ text: '## Title\n- item my_var', hit: false }]))).toBe('Title\nitem my_var');
  });
});
