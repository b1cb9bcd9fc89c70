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

/** Avatar colours: white initials on each have at least WCAG AA's 4.5:1 contrast. */
export const PALETTE = [
  '#c62a2f', '#bd4b00', '#8a6400', '#18794e', '#0d7a6d', '#0b68cb', '#3451b2', '#5b45b8', '#953ea3', '#b8317f',
  '#793aaf', '#00749c', '#2a7e3b', '#c22d55',
];

/** The WCAG contrast ratio of two `#rrggbb` colours (1 to 21). */
export function contrastRatio(a: string, b: string): number {
  const lum = (hex: string) => {
    const [r, g, bl] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
    const f = (c: number) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(bl);
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

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

/** The largest a thumbnail is shown in a message (CSS pixels). */
export const THUMB_MAX = { width: 320, height: 240 };

/**
 * The size a thumbnail takes on screen, known before it loads: the list reserves the space, so
 * an image arriving later does not push the newest message under the composer.
 */
export function thumbBox(w: number, h: number): { width: number; height: number } {
  if (!(w > 0) || !(h > 0)) return { width: THUMB_MAX.width, height: THUMB_MAX.height };
  const scale = Math.min(1, THUMB_MAX.width / w, THUMB_MAX.height / h);
  return { width: Math.max(1, Math.round(w * scale)), height: Math.max(1, Math.round(h * scale)) };
}
