import { describe, expect, it } from 'vitest';
import { ApiError, NetworkError, isTransient, parseRetryAfter } from '../src/lib/api';
import { errorText, rateLimitWait, sendLimitedText } from '../src/lib/errors';
import { catalogs, setLang } from '../src/i18n';
import { en } from '../src/i18n/en';
import type { ErrorCode } from '../src/gen/wire';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

describe('a send refused by the rate limit', () => {
  const limited = (retryAfter?: number) =>
    new ApiError(429, 'rate_limited', 'too many requests, retry in 3 s', undefined, retryAfter);

  it('reads Retry-After as whole seconds', () => {
    expect(parseRetryAfter('3')).toBe(3);
    expect(parseRetryAfter(' 12 ')).toBe(12);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('Wed, 21 Oct 2026 07:28:00 GMT')).toBeUndefined();
    expect(parseRetryAfter('-1')).toBeUndefined();
  });

  it('says how long to wait, in English and in Chinese', () => {
    setLang('en');
    expect(sendLimitedText(limited(3))).toBe("You're sending too fast; try again in 3 s");
    setLang('zh-CN');
    expect(sendLimitedText(limited(3))).toBe('发送太频繁，请 3 秒后再试');
    setLang('en');
  });

  it('waits at least a second, also without a Retry-After', () => {
    expect(rateLimitWait(limited(7))).toBe(7);
    expect(rateLimitWait(limited(0))).toBe(1);
    expect(rateLimitWait(limited())).toBe(1);
    expect(sendLimitedText(limited())).toBe("You're sending too fast; try again in 1 s");
  });

  it('is transient (the message is kept and sent again), and other failures are not rate limits', () => {
    expect(isTransient(limited(3))).toBe(true);
    for (const e of [
      new ApiError(403, 'forbidden', 'no'),
      new ApiError(503, 'unavailable', 'later'),
      new NetworkError('down'),
      new Error('x'),
    ]) {
      expect(rateLimitWait(e)).toBeNull();
      expect(sendLimitedText(e)).toBeNull();
    }
  });
});

describe('server errors are told by their code, in the interface language', () => {
  const wire = readFileSync(join(__dirname, '../src/gen/wire.ts'), 'utf8');
  const start = wire.indexOf('export type ErrorCode =');
  const block = wire.slice(start, wire.indexOf('\n;', start));
  const codes = [...block.matchAll(/\| "([a-z_0-9]+)"/g)].map((m) => m[1]);

  it('every error code the server sends has a text in English and Chinese', () => {
    expect(codes.length).toBeGreaterThan(30);
    for (const code of codes) {
      expect(en, code).toHaveProperty(`error.${code}`);
      expect(catalogs['zh-CN'], code).toHaveProperty(`error.${code}`);
    }
  });

  it("never shows the server's English message in the Chinese interface", () => {
    setLang('zh-CN');
    const english = 'from: needs a username or a name, as in from:@alice';
    const refused = new ApiError(400, 'invalid_field', `invalid q: ${english}`, 'q');
    expect(errorText(refused)).toBe('搜索条件无效。');
    for (const code of codes) {
      const text = errorText(new ApiError(400, code as ErrorCode, 'An English server sentence', 'q'));
      expect(text, code).not.toContain('English server sentence');
      expect(text, code).toMatch(/[\u4e00-\u9fff]/);
    }
    expect(errorText(new ApiError(418, 'http_418', 'I am a teapot'))).toBe(catalogs['zh-CN']['error.generic']);
    setLang('en');
    expect(errorText(refused)).toBe(`Invalid search: ${english}`);
  });
});
