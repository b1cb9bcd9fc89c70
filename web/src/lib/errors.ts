// What to tell the user when the server's per-user rate limits refuse a request
// (`rate_limited`, with `Retry-After` in whole seconds).

import { lang, t, type Key } from '../i18n';
import { ApiError, NetworkError } from './api';

/**
 * A human explanation of a failed request, in the interface's language. Every server error is
 * told by its code: the server's own message (English) is shown only in the English interface,
 * as the detail of a refused field, never in another language.
 */
export function errorText(e: unknown): string {
  if (e instanceof NetworkError) return t('error.network');
  if (e instanceof ApiError) {
    if (e.code === 'invalid_field') {
      const fk = `field.${e.field ?? 'other'}` as Key;
      const field = t(fk) === fk ? t('field.other') : t(fk);
      if (lang() === 'en' && e.message) {
        return t('error.invalid_field', { field, message: e.message.replace(/^invalid [\w ]+: /, '') });
      }
      return t('error.invalid_value', { field });
    }
    const key = `error.${e.code}` as Key;
    const s = t(key);
    if (s !== key) return s;
    if (lang() === 'en' && e.message) return e.message;
  }
  return t('error.generic');
}

/** The seconds a `rate_limited` refusal asked to wait (at least 1); null for any other failure. */
export function rateLimitWait(e: unknown): number | null {
  if (!(e instanceof ApiError) || e.code !== 'rate_limited') return null;
  return Math.max(1, e.retryAfter ?? 1);
}

/**
 * The text shown on a message whose send the rate limit refused ("You're sending too fast; try
 * again in N s"); null for any other failure. The message stays in the outbox and is sent again
 * after the wait.
 */
export function sendLimitedText(e: unknown): string | null {
  const n = rateLimitWait(e);
  return n === null ? null : t('send.too_fast', { n });
}
