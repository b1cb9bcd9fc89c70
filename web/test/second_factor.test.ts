import { afterEach, describe, expect, it, vi } from 'vitest';
import { secondFactorApi } from '../src/ui/SecondFactor';
import { ApiError, setUnauthenticatedHandler } from '../src/lib/api';

afterEach(() => {
  vi.unstubAllGlobals();
  setUnauthenticatedHandler(() => {});
});

// A wrong password or code in the security settings answers 401; that is the form's error,
// not the session ending, so these calls must not sign the user out.
describe('second-factor settings and a wrong password', () => {
  const unauthorized = () =>
    vi.stubGlobal(
      'fetch',
      async () =>
        new Response(JSON.stringify({ error: { code: 'unauthenticated', message: 'wrong password' } }), {
          status: 401,
          headers: { 'content-type': 'application/json' },
        }),
    );

  const reauthCalls: [string, () => Promise<unknown>][] = [
    ['turning the authenticator app off', () => secondFactorApi.disable({ password: 'wrong' })],
    ['making new recovery codes', () => secondFactorApi.newCodes({ password: 'wrong' })],
    ['confirming the app with a wrong code', () => secondFactorApi.confirm('000000')],
    ['adding a security key', () => secondFactorApi.beginKey({ password: 'wrong' })],
    ['removing a security key', () => secondFactorApi.removeKey('1', { password: 'wrong' })],
    ['the sign-in code', () => secondFactorApi.pass('sfc_x', 'totp', '000000')],
  ];

  for (const [what, call] of reauthCalls) {
    it(`${what}: the error is shown, the session stays`, async () => {
      unauthorized();
      const signedOut = vi.fn();
      setUnauthenticatedHandler(signedOut);
      const err = await call().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).status).toBe(401);
      expect(signedOut).not.toHaveBeenCalled();
    });
  }

  it('an expired session elsewhere still signs out', async () => {
    unauthorized();
    const signedOut = vi.fn();
    setUnauthenticatedHandler(signedOut);
    await expect(secondFactorApi.status()).rejects.toBeInstanceOf(ApiError);
    expect(signedOut).toHaveBeenCalledOnce();
  });
});

// An account with no password of its own (single sign-on) proves a change by its recent sign-in:
// it sends no field; an account with a password always sends it (or a code).
describe('re-authentication body', () => {
  it('is empty only without a password and without a typed code', async () => {
    const { reauthFor } = await import('../src/ui/SecondFactor');
    expect(reauthFor(false, '')).toEqual({});
    expect(reauthFor(false, '  ')).toEqual({});
    expect(reauthFor(false, '123 456')).toEqual({ code: '123 456' });
    expect(reauthFor(true, '')).toEqual({ password: '' });
    expect(reauthFor(true, 'hunter2-long')).toEqual({ password: 'hunter2-long' });
    expect(reauthFor(true, 'abcde-fghjk')).toEqual({ code: 'abcde-fghjk' });
  });
});
