// Message search: the API's result shape and the pure helpers behind the search box.

export type { SearchResult, SnippetSegment } from '../gen/wire';

/** The filters the search box offers, as the server's query language spells them. */
export type FilterKey = 'from' | 'in' | 'before' | 'after';

const PREFIX: Record<FilterKey, string> = { from: 'from:@', in: 'in:#', before: 'before:', after: 'after:' };

/** What a username may look like (enclave_core::validate::username). */
const USERNAME = /^[a-z0-9][a-z0-9._-]{1,31}$/i;

/** Quotes a filter value that holds spaces (channel names may). */
function quoteValue(v: string): string {
  return /\s/.test(v) ? `"${v.replace(/"/g, '')}"` : v;
}

/** Splits a query into its tokens, keeping quoted parts (and `key:"quoted value"`) whole. */
export function tokens(q: string): string[] {
  return q.match(/(?:[^\s"]+:)?"[^"]*"?|\S+/g) ?? [];
}

/** The query with filter `key` set to `value` (replacing an earlier one), or removed when empty. */
export function setFilter(q: string, key: FilterKey, value: string): string {
  const kept = tokens(q).filter((tok) => !tok.toLowerCase().startsWith(key + ':'));
  const v = value.trim().replace(/^[@#]/, '');
  if (v && key === 'from' && !USERNAME.test(v)) {
    // A display name (`from:李雷`, `from:"Alice Chen"`): the server matches it too.
    kept.push(`from:${quoteValue(v)}`);
  } else if (v) {
    kept.push(`${PREFIX[key]}${quoteValue(v)}`.replace(/^in:#"/, 'in:"'));
  }
  return kept.join(' ');
}

/** The value of filter `key` in the query, without its `@`/`#`/quotes; '' when absent. */
export function getFilter(q: string, key: FilterKey): string {
  const tok = tokens(q).find((x) => x.toLowerCase().startsWith(key + ':'));
  if (!tok) return '';
  return tok
    .slice(key.length + 1)
    .replace(/^[@#]/, '')
    .replace(/^"|"$/g, '');
}

/** Whether the query asks only for messages with files (`has:file`). */
export function hasFile(q: string): boolean {
  return tokens(q).some((tok) => tok.toLowerCase() === 'has:file');
}

/** The query with `has:file` added or removed. */
export function setHasFile(q: string, on: boolean): string {
  const kept = tokens(q).filter((tok) => tok.toLowerCase() !== 'has:file');
  if (on) kept.push('has:file');
  return kept.join(' ');
}

/** Whether a date filter value is a real day written YYYY-MM-DD (what the server accepts). */
export function isDay(v: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
  if (!m) return false;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
  return d.getUTCFullYear() === +m[1] && d.getUTCMonth() === +m[2] - 1 && d.getUTCDate() === +m[3];
}
