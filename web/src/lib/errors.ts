// What to tell the user when the server's per-user rate limits refuse a request
// (`rate_limited`, with `Retry-After` in whole seconds).

import { t } from '../i18n';
import { ApiError } from './api';

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
