// Search result snippets come from the message's source text: the Markdown marks in them
// (`**bold**`, `` `code` ``, `[text](url)`, `> quote`, `# heading`) are taken out so the
// snippet reads as the message does.

import type { SnippetSegment } from '../gen/wire';

/** The text of one piece without Markdown marks. `lineStart`: the piece begins a line. */
function plain(text: string, lineStart: boolean): string {
  let s = text
    // Links and images: keep the words, drop the address.
    .replace(/!?\[([^\]\n]*)\]\([^)\s]*\)/g, '$1')
    // Emphasis, strike and code marks.
    .replace(/\*\*|__|~~|`+/g, '')
    .replace(/(^|[\s(])[*_](?=\S)/g, '$1')
    .replace(/(\S)[*_](?=[\s).,!?:;，。！？]|$)/g, '$1')
    // Quote and heading marks at the start of a line.
    .replace(/(\n)[ \t]*(?:>[ \t]?|#{1,6}[ \t]+|[-*+][ \t]+)/g, '$1');
  if (lineStart) s = s.replace(/^[ \t]*(?:>[ \t]?|#{1,6}[ \t]+|[-*+][ \t]+)/, '');
  return s;
}

/** The snippet without Markdown marks; pieces that end up empty are dropped. */
export function cleanSnippet(segments: SnippetSegment[]): SnippetSegment[] {
  const out: SnippetSegment[] = [];
  segments.forEach((seg, i) => {
    const text = plain(seg.text, i === 0);
    if (text) out.push({ ...seg, text });
  });
  return out;
}
