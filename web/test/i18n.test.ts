import { describe, expect, it } from 'vitest';
import { catalogs, detectLang, LANGS, setLang, t, tn } from '../src/i18n';
import { en } from '../src/i18n/en';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('message catalogues', () => {
  it('plural forms take their count as {n}, the only name tn() fills', () => {
    for (const [key, text] of Object.entries(en)) {
      if (!/_(one|other)$/.test(key)) continue;
      for (const p of placeholders(text)) {
        if (p === 'n') continue;
        // Other placeholders are allowed when the callers pass them; a count must be {n}.
        expect(['count', 'num', 'number'], `${key}: ${text}`).not.toContain(p);
      }
    }
  });

  it('every key exists in every language, non-empty, with the same placeholders', () => {
    const keys = Object.keys(en).sort();
    for (const lang of LANGS) {
      const cat = catalogs[lang];
      expect(Object.keys(cat).sort(), lang).toEqual(keys);
      for (const k of keys) {
        expect(cat[k].trim(), `${lang} ${k}`).not.toBe('');
        expect(placeholders(cat[k]), `${lang} ${k}`).toEqual(placeholders(en[k as keyof typeof en]));
      }
    }
  });

  it('plural keys come in pairs', () => {
    for (const k of Object.keys(en)) {
      if (k.endsWith('_one')) expect(en).toHaveProperty(k.replace(/_one$/, '_other'));
      if (k.endsWith('_other')) expect(en).toHaveProperty(k.replace(/_other$/, '_one'));
    }
  });

  it('the Chinese catalogue is actually Chinese', () => {
    const zh = catalogs['zh-CN'];
    const chinese = Object.values(zh).filter((s) => /[\u4e00-\u9fff]/.test(s)).length;
    expect(chinese / Object.keys(zh).length).toBeGreaterThan(0.9);
  });

  it('every key the code uses exists', () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (/\.(ts|tsx)$/.test(f) && !/\.test\./.test(f)) files.push(p);
      }
    };
    walk(join(__dirname, '..', 'src'));
    const used = new Set<string>();
    for (const f of files) {
      const src = readFileSync(f, 'utf8');
      for (const m of src.matchAll(/\bt\(\s*'([a-zA-Z0-9_.]+)'/g)) used.add(m[1]);
      for (const m of src.matchAll(/\btn\(\s*'([a-zA-Z0-9_.]+)'/g)) {
        used.add(m[1] + '_one');
        used.add(m[1] + '_other');
      }
    }
    const missing = [...used].filter((k) => !(k in en) && k !== 'unread_one' && k !== 'unread_other');
    expect(missing).toEqual([]);
  });

  it('dynamic key families are complete', () => {
    // The error codes, as generated from the server's table (enclave_app::ErrorCode).
    const gen = readFileSync(join(__dirname, '../src/gen/wire.ts'), 'utf8');
    const table = /export type ErrorCode =\n((?:\s*\|[^\n]*\n)+);/.exec(gen)?.[1] ?? '';
    const wire = [...table.matchAll(/^\s*\| "([a-z_]+)"/gm)].map((m) => m[1]);
    expect(wire.length).toBeGreaterThan(10);
    for (const code of wire) {
      if (code === 'bad_frame' || code === 'resync_required') continue;
      expect(en, code).toHaveProperty(`error.${code}`);
    }
    for (const p of ['online', 'away', 'offline', 'dnd']) expect(en).toHaveProperty(`presence.${p}`);
  });
});

describe('translation', () => {
  it('follows the browser language', () => {
    expect(detectLang(['zh-CN', 'en'])).toBe('zh-CN');
    expect(detectLang(['zh-TW'])).toBe('zh-CN');
    expect(detectLang(['en-GB', 'zh-CN'])).toBe('en');
    expect(detectLang(['fr-FR'])).toBe('en');
  });

  it('fills placeholders and plurals', () => {
    setLang('en');
    expect(t('typing.two', { a: 'Ann', b: 'Bo' })).toBe('Ann and Bo are typing…');
    expect(tn('thread.replies', 1)).toBe('1 reply');
    expect(tn('thread.replies', 3)).toBe('3 replies');
    setLang('zh-CN');
    expect(tn('thread.replies', 1)).toBe('1 条回复');
    expect(t('login.submit')).toBe('登录');
    setLang('en');
  });
});
