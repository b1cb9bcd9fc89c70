// The message catalogues and the translation function. Every user-visible string goes through
// `t`. Plurals use `key_one` / `key_other` (Intl.PluralRules); Chinese has only `other`.

import { en } from './en';
import { zhCN } from './zh-CN';

export type Key = keyof typeof en;
export type Lang = 'en' | 'zh-CN';
export const LANGS: Lang[] = ['en', 'zh-CN'];

export const catalogs: Record<Lang, Record<string, string>> = { en, 'zh-CN': zhCN };

let current: Lang = 'en';
let plural = new Intl.PluralRules('en');

/** The language for a browser's preferred languages. */
export function detectLang(preferred: readonly string[]): Lang {
  for (const l of preferred) {
    const s = l.toLowerCase();
    if (s.startsWith('zh')) return 'zh-CN';
    if (s.startsWith('en')) return 'en';
  }
  return 'en';
}

export function setLang(l: Lang) {
  current = l;
  plural = new Intl.PluralRules(l);
  if (typeof document !== 'undefined') document.documentElement.lang = l;
}

export function lang(): Lang {
  return current;
}

function fill(s: string, params?: Record<string, string | number>): string {
  if (!params) return s;
  return s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
}

export function t(key: Key, params?: Record<string, string | number>): string {
  const s = catalogs[current][key] ?? en[key] ?? key;
  return fill(s, params);
}

type PluralBase<K> = K extends `${infer B}_one` ? B : never;
export type PluralKey = PluralBase<Key>;

/** A counted string: `tn('unread', 3)` uses `unread_one` or `unread_other`, with `{n}`. */
export function tn(base: PluralKey, n: number, params?: Record<string, string | number>): string {
  const form = plural.select(n) === 'one' ? 'one' : 'other';
  return t(`${base}_${form}` as Key, { n, ...params });
}
