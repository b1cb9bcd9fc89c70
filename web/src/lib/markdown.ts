// A small Markdown dialect for chat, parsed into a tree that is rendered as DOM nodes (never as
// an HTML string): raw HTML in a message is text, links only ever get http(s)/mailto targets.
//
// Blocks: paragraphs (single newlines kept), fenced code (``` or ~~~), block quotes (>),
// bullet lists (- * +), ordered lists (1. or 1)), headings (# to ###).
// Inline: `code`, **bold** / __bold__, *italic* / _italic_, ~~strike~~, [text](url),
// bare URLs, @mentions, :emoji: short names, backslash escapes.

import { EMOJI } from './emoji';

export type Inline =
  | { t: 'text'; v: string }
  | { t: 'code'; v: string }
  | { t: 'strong'; c: Inline[] }
  | { t: 'em'; c: Inline[] }
  | { t: 'del'; c: Inline[] }
  | { t: 'link'; href: string; c: Inline[] }
  | { t: 'mention'; name: string }
  | { t: 'emoji'; v: string; name: string }
  | { t: 'br' };

export type Block =
  | { t: 'p'; c: Inline[] }
  | { t: 'pre'; lang: string; v: string }
  | { t: 'quote'; c: Block[] }
  | { t: 'ul'; items: Block[][] }
  | { t: 'ol'; start: number; items: Block[][] }
  | { t: 'h'; level: 1 | 2 | 3; c: Inline[] };

const MAX_DEPTH = 6;
/** How far ahead a closing delimiter is looked for (bounds the work on hostile input). */
const MAX_SPAN = 2000;

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([A-Za-z0-9_+#.-]*)\s*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const BULLET = /^( {0,3})([-*+])\s+(.*)$/;
const ORDERED = /^( {0,3})(\d{1,9})[.)]\s+(.*)$/;
const HEADING = /^ {0,3}(#{1,3})\s+(.*?)\s*#*\s*$/;

export function parse(src: string): Block[] {
  return parseBlocks(src.replace(/\r\n?/g, '\n').split('\n'), 0);
}

function startsBlock(line: string): boolean {
  return FENCE.test(line) || QUOTE.test(line) || BULLET.test(line) || ORDERED.test(line) || HEADING.test(line);
}

function parseBlocks(lines: string[], depth: number): Block[] {
  const out: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '') {
      i++;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const marker = fence[1];
      const body: string[] = [];
      i++;
      while (i < lines.length) {
        const l = lines[i].trim();
        if (l.startsWith(marker[0].repeat(marker.length)) && /^(`+|~+)$/.test(l) && l[0] === marker[0]) break;
        body.push(lines[i]);
        i++;
      }
      i++; // the closing fence (or the end)
      out.push({ t: 'pre', lang: fence[2], v: body.join('\n') });
      continue;
    }
    if (depth < MAX_DEPTH && QUOTE.test(line)) {
      const inner: string[] = [];
      while (i < lines.length) {
        const q = QUOTE.exec(lines[i]);
        if (!q) break;
        inner.push(q[1]);
        i++;
      }
      out.push({ t: 'quote', c: parseBlocks(inner, depth + 1) });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      out.push({ t: 'h', level: heading[1].length as 1 | 2 | 3, c: parseInline(heading[2], depth) });
      i++;
      continue;
    }
    const bullet = BULLET.exec(line);
    const ordered = bullet ? null : ORDERED.exec(line);
    if (depth < MAX_DEPTH && (bullet || ordered)) {
      const re = bullet ? BULLET : ORDERED;
      const items: string[][] = [];
      const start = ordered ? Number(ordered[2]) : 1;
      while (i < lines.length) {
        const l = lines[i];
        const m = re.exec(l);
        if (m) {
          items.push([m[3]]);
          i++;
          continue;
        }
        if (l.trim() === '') {
          // A blank line ends the list unless the next line continues it.
          const next = lines[i + 1];
          if (next !== undefined && (re.test(next) || /^ {2,}\S/.test(next))) {
            items[items.length - 1].push('');
            i++;
            continue;
          }
          break;
        }
        if (/^ {2,}\S/.test(l) || /^\t/.test(l)) {
          items[items.length - 1].push(l.replace(/^( {2,4}|\t)/, ''));
          i++;
          continue;
        }
        if (startsBlock(l)) break;
        // A lazy continuation line of the last item's paragraph.
        items[items.length - 1].push(l);
        i++;
      }
      const parsed = items.map((it) => parseBlocks(it, depth + 1));
      out.push(ordered ? { t: 'ol', start, items: parsed } : { t: 'ul', items: parsed });
      continue;
    }
    const para: string[] = [];
    while (i < lines.length && lines[i].trim() !== '' && (para.length === 0 || !startsBlock(lines[i]))) {
      para.push(lines[i]);
      i++;
    }
    out.push({ t: 'p', c: parseInline(para.join('\n'), depth) });
  }
  return out;
}

const PUNCT = /[!-/:-@[-`{-~]/;
const WORD = /[\p{L}\p{N}_]/u;
const NAME_CHAR = /[A-Za-z0-9._-]/;
const URL_START = /^(?:https?:\/\/|www\.)[^\s<>"]+/i;

/** A link target that can do no harm, or null. */
export function safeHref(raw: string): string | null {
  const s = raw.trim();
  // eslint-disable-next-line no-control-regex
  if (!s || /[\u0000-\u001f\u007f\s]/.test(s)) return null;
  if (/^https?:\/\//i.test(s) || /^mailto:[^/]/i.test(s)) return s;
  if (/^www\./i.test(s)) return 'https://' + s;
  return null;
}

/** Trims punctuation that ends a sentence rather than a URL, keeping balanced parentheses. */
function trimUrl(u: string): string {
  let s = u;
  for (;;) {
    const last = s[s.length - 1];
    if (/[.,;:!?'"*_~]/.test(last)) {
      s = s.slice(0, -1);
      continue;
    }
    if (last === ')') {
      const open = (s.match(/\(/g) ?? []).length;
      const close = (s.match(/\)/g) ?? []).length;
      if (close > open) {
        s = s.slice(0, -1);
        continue;
      }
    }
    return s;
  }
}

function findCloser(s: string, delim: string, from: number, check: (at: number) => boolean): number {
  const limit = Math.min(s.length, from + MAX_SPAN);
  let at = s.indexOf(delim, from);
  while (at >= 0 && at < limit) {
    if (check(at)) return at;
    at = s.indexOf(delim, at + 1);
  }
  return -1;
}

export function parseInline(s: string, depth = 0): Inline[] {
  const out: Inline[] = [];
  let text = '';
  const flush = () => {
    if (text) {
      out.push({ t: 'text', v: text });
      text = '';
    }
  };
  const push = (n: Inline) => {
    flush();
    out.push(n);
  };
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    const prev = i > 0 ? s[i - 1] : '';
    if (c === '\\' && i + 1 < s.length && PUNCT.test(s[i + 1])) {
      text += s[i + 1];
      i += 2;
      continue;
    }
    if (c === '\n') {
      push({ t: 'br' });
      i++;
      continue;
    }
    if (c === '`') {
      let n = 1;
      while (s[i + n] === '`') n++;
      const ticks = '`'.repeat(n);
      const end = findCloser(s, ticks, i + n, (at) => s[at + n] !== '`' && s[at - 1] !== '`');
      if (end > 0) {
        let v = s.slice(i + n, end);
        if (v.length > 2 && v.startsWith(' ') && v.endsWith(' ')) v = v.slice(1, -1);
        push({ t: 'code', v });
        i = end + n;
        continue;
      }
      text += ticks;
      i += n;
      continue;
    }
    if (depth < MAX_DEPTH) {
      const two = s.slice(i, i + 2);
      if ((two === '**' || two === '__' || two === '~~') && s[i + 2] && !/\s/.test(s[i + 2])) {
        const leftOk = two !== '__' || !WORD.test(prev);
        const end = leftOk
          ? findCloser(s, two, i + 2, (at) => !/\s/.test(s[at - 1]) && (two !== '__' || !WORD.test(s[at + 2] ?? '')))
          : -1;
        if (end > i + 2) {
          const inner = parseInline(s.slice(i + 2, end), depth + 1);
          push(two === '~~' ? { t: 'del', c: inner } : { t: 'strong', c: inner });
          i = end + 2;
          continue;
        }
      }
      if ((c === '*' || c === '_') && s[i + 1] && !/\s/.test(s[i + 1]) && s[i + 1] !== c) {
        const leftOk = c === '*' || !WORD.test(prev);
        const end = leftOk
          ? findCloser(
              s,
              c,
              i + 1,
              (at) =>
                !/\s/.test(s[at - 1]) &&
                s[at + 1] !== c &&
                s[at - 1] !== c &&
                (c !== '_' || !WORD.test(s[at + 1] ?? '')),
            )
          : -1;
        if (end > i + 1) {
          push({ t: 'em', c: parseInline(s.slice(i + 1, end), depth + 1) });
          i = end + 1;
          continue;
        }
      }
      if (c === '[') {
        const close = findCloser(s, ']', i + 1, () => true);
        if (close > i && s[close + 1] === '(') {
          const paren = s.indexOf(')', close + 2);
          if (paren > 0 && paren - close < MAX_SPAN) {
            const href = safeHref(s.slice(close + 2, paren));
            if (href) {
              const label = s.slice(i + 1, close);
              push({ t: 'link', href, c: label ? parseInline(label, depth + 1) : [{ t: 'text', v: href }] });
              i = paren + 1;
              continue;
            }
          }
        }
      }
    }
    if ((c === 'h' || c === 'H' || c === 'w' || c === 'W') && !WORD.test(prev)) {
      const m = URL_START.exec(s.slice(i, i + MAX_SPAN));
      if (m) {
        const raw = trimUrl(m[0]);
        const href = safeHref(raw);
        if (href && raw.length > 4) {
          push({ t: 'link', href, c: [{ t: 'text', v: raw }] });
          i += raw.length;
          continue;
        }
      }
    }
    if (c === '@' && !(prev && (NAME_CHAR.test(prev) || prev === '@'))) {
      let end = i + 1;
      while (end < s.length && NAME_CHAR.test(s[end])) end++;
      while (end > i + 1 && /[._-]/.test(s[end - 1])) end--;
      if (end > i + 1) {
        push({ t: 'mention', name: s.slice(i + 1, end) });
        i = end;
        continue;
      }
    }
    if (c === ':') {
      const m = /^:([a-z0-9_+-]{1,32}):/.exec(s.slice(i, i + 36));
      if (m && EMOJI[m[1]]) {
        push({ t: 'emoji', v: EMOJI[m[1]], name: m[1] });
        i += m[0].length;
        continue;
      }
    }
    text += c;
    i++;
  }
  flush();
  return out;
}

/** Whether a message is nothing but a few emoji (shown larger). */
export function isEmojiOnly(src: string): boolean {
  const s = src.trim();
  if (!s || s.length > 40) return false;
  const stripped = s.replace(/:([a-z0-9_+-]{1,32}):/g, (m, n) => (EMOJI[n] ? '' : m)).replace(/\s+/g, '');
  if (stripped === '') return true;
  return /^(?:\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Regional_Indicator}|\u200d|\ufe0f)+$/u.test(stripped) &&
    [...stripped].filter((ch) => /\p{Extended_Pictographic}|\p{Regional_Indicator}/u.test(ch)).length <= 6;
}

/** Plain text of a message for previews and notifications (Markdown markers dropped). */
export function plainText(src: string, max = 140): string {
  const flat = (ins: Inline[]): string =>
    ins
      .map((n) => {
        switch (n.t) {
          case 'text':
          case 'code':
            return n.v;
          case 'br':
            return ' ';
          case 'mention':
            return '@' + n.name;
          case 'emoji':
            return n.v;
          default:
            return flat(n.c);
        }
      })
      .join('');
  const blocks = (bs: Block[]): string =>
    bs
      .map((b) => {
        switch (b.t) {
          case 'p':
          case 'h':
            return flat(b.c);
          case 'pre':
            return b.v;
          case 'quote':
            return blocks(b.c);
          default:
            return b.items.map(blocks).join(' · ');
        }
      })
      .join(' ');
  const s = blocks(parse(src)).replace(/\s+/g, ' ').trim();
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}
