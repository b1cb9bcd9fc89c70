import { describe, expect, it } from 'vitest';
import { ApiError, NetworkError, isTransient, parseRetryAfter } from '../src/lib/api';
import { rateLimitWait, sendLimitedText } from '../src/lib/errors';
import { setLang } from '../src/i18n';

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
