// Display helpers: names, initials, colours, times.

import { lang, t } from '../i18n';
import type { Channel, User } from './types';

export function displayName(u: User | undefined): string {
  if (!u) return t('user.unknown');
  return u.display_name || u.username;
}

/** The label of a conversation: its name, or the other participants of a direct one. */
export function channelLabel(c: Channel, s: { users: Record<string, User>; me: User | null }): string {
  if (c.kind === 'dm' || c.kind === 'group_dm') {
    const others = (c.dm_user_ids ?? []).filter((id) => id !== s.me?.id);
    if (others.length === 0) return s.me ? `${displayName(s.me)} (${t('dm.you')})` : t('dm.notes');
    return others.map((id) => displayName(s.users[id])).join(', ');
  }
  return c.name ?? '';
}

const CJK = /[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af]/;

/** One or two characters for an avatar: "Alice Smith" → "AS", "张三丰" → "三丰". */
export function initials(name: string): string {
  const s = name.trim();
  if (!s) return '?';
  if (CJK.test(s[0])) {
    const chars = [...s.replace(/\s+/g, '')];
    return chars.length <= 2 ? chars.join('') : chars.slice(-2).join('');
  }
  const words = s.split(/[\s._-]+/).filter(Boolean);
  const first = [...words[0]][0] ?? '?';
  const second = words.length > 1 ? ([...words[words.length - 1]][0] ?? '') : '';
  return (first + second).toUpperCase();
}

const PALETTE = [
  '#e5484d', '#f76b15', '#d6a100', '#30a46c', '#12a594', '#0090ff', '#3e63dd', '#6e56cf', '#ab4aba', '#d6409f',
  '#8e4ec6', '#00a2c7', '#46a758', '#e54666',
];

/** A stable colour for an id. */
export function colorFor(id: string): string {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return PALETTE[Math.abs(h) % PALETTE.length];
}

export function formatTime(iso: string | number): string {
  const d = new Date(iso);
  return new Intl.DateTimeFormat(lang(), { hour: 'numeric', minute: '2-digit' }).format(d);
}

export function formatFull(iso: string | number): string {
  const d = new Date(iso);
  return new Intl.DateTimeFormat(lang(), { dateStyle: 'full', timeStyle: 'short' }).format(d);
}

export function formatDate(iso: string | number): string {
  return new Intl.DateTimeFormat(lang(), { dateStyle: 'medium' }).format(new Date(iso));
}

/** "Today", "Yesterday", or a date. */
export function formatDay(at: number, now = Date.now()): string {
  const d = new Date(at);
  const today = new Date(now);
  const start = (x: Date) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const diff = Math.round((start(today) - start(d)) / 86_400_000);
  if (diff === 0) return t('date.today');
  if (diff === 1) return t('date.yesterday');
  const opts: Intl.DateTimeFormatOptions =
    d.getFullYear() === today.getFullYear()
      ? { weekday: 'long', month: 'long', day: 'numeric' }
      : { year: 'numeric', month: 'long', day: 'numeric' };
  return new Intl.DateTimeFormat(lang(), opts).format(d);
}

/** Case-insensitive match of a query against several fields; lower is better, -1 is no match. */
export function matchScore(query: string, ...fields: (string | null | undefined)[]): number {
  const q = query.trim().toLowerCase();
  if (!q) return 0;
  let best = -1;
  for (const f of fields) {
    if (!f) continue;
    const s = f.toLowerCase();
    const i = s.indexOf(q);
    if (i === 0) return 0;
    if (i > 0) {
      const score = /[\s._-]/.test(s[i - 1]) ? 1 : 2;
      if (best < 0 || score < best) best = score;
    }
  }
  return best;
}

export function cls(...parts: (string | false | null | undefined)[]): string {
  return parts.filter(Boolean).join(' ');
}
