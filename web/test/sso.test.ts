import { afterEach, describe, expect, it, vi } from 'vitest';
import { ssoAdminApi, ssoState } from '../src/ui/admin/Sso';
import { takeSsoFragment } from '../src/lib/client';
import { api } from '../src/lib/api';
import { setLang, t } from '../src/i18n';
import type { SsoStatusDto } from '../src/gen/wire';

const provider: SsoStatusDto = {
  id: 'corp',
  label: 'Corporate SSO',
  issuer: 'https://sso.example.org',
  discovery_ok: true,
  last_checked_at: '2026-01-01T00:00:00Z',
  last_error: null,
  last_sign_in_at: null,
  linked_users: 3,
  end_session: true,
};

describe('single sign-on', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    setLang('en');
  });

  it('reads the callback fragment: a one-time code and its provider, or an error code', () => {
    expect(takeSsoFragment('#sso_code=abc-_123&sso_provider=corp')).toEqual({
      code: 'abc-_123',
      provider: 'corp',
      error: undefined,
    });
    expect(takeSsoFragment('#sso_error=sso_failed')).toEqual({
      code: undefined,
      provider: undefined,
      error: 'sso_failed',
    });
    expect(takeSsoFragment('')).toEqual({ code: undefined, provider: undefined, error: undefined });
  });

  it("names a provider's state", () => {
    expect(ssoState(provider)).toBe('ok');
    expect(ssoState({ ...provider, discovery_ok: false })).toBe('off');
    expect(ssoState({ ...provider, discovery_ok: null })).toBe('unknown');
  });

  it('explains every single sign-on error in both languages', () => {
    for (const lang of ['en', 'zh-CN'] as const) {
      setLang(lang);
      for (const code of ['sso_failed', 'sso_provider_unavailable', 'provider_not_found', 'password_login_disabled'] as const) {
        const key = `error.${code}` as const;
        expect(t(key)).not.toBe(key);
      }
      expect(t('login.with', { name: 'Keycloak' })).toContain('Keycloak');
    }
  });

  it('calls the providers, exchange and status endpoints', async () => {
    const calls: [string, string, unknown][] = [];
    vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
      calls.push([init.method ?? 'GET', url, init.body ? JSON.parse(String(init.body)) : undefined]);
      const body = url.includes('/admin/sso')
        ? { providers: [provider] }
        : url.includes('exchange')
          ? { token: 't', user: { id: '1' } }
          : { local_passwords: false, providers: [{ id: 'corp', label: 'Corporate SSO' }] };
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    });
    expect((await api.ssoProviders()).local_passwords).toBe(false);
    expect((await api.ssoExchange('abc')).token).toBe('t');
    expect(await ssoAdminApi.status(true)).toEqual([provider]);
    expect(calls).toEqual([
      ['GET', '/api/v1/auth/providers', undefined],
      ['POST', '/api/v1/auth/sso/exchange', { code: 'abc' }],
      ['GET', '/api/v1/admin/sso?refresh=true', undefined],
    ]);
  });
});
