import { afterEach, describe, expect, it, vi } from 'vitest';
import { delayReason, lockoutsApi } from '../src/ui/admin/Lockouts';
import { setLang } from '../src/i18n';
import type { LockoutDto } from '../src/gen/wire';

const entry: LockoutDto = {
  step: 'password',
  account: 'alice@example.com',
  source: '2001:db8:1:2::/64',
  failures: 4,
  last_failure_at: '2026-01-01T00:00:00Z',
  known_source: false,
  delayed_until: '2026-01-01T00:00:02Z',
  delayed_by: 'pair',
};

describe('sign-in delays (admin)', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    setLang('en');
  });

  it('names what makes a pair wait, in both languages', () => {
    expect(delayReason(entry)).toBe('Failures of this login from this address');
    expect(delayReason({ ...entry, delayed_by: 'account' })).toContain('many addresses');
    expect(delayReason({ ...entry, delayed_by: null, delayed_until: null })).toBe('Not delayed');
    setLang('zh-CN');
    expect(delayReason({ ...entry, delayed_by: 'source' })).toBe('该地址对多个登录名的失败');
  });

  it('encodes the login and the address (an IPv6 /64 has a slash) in the paths', async () => {
    const calls: [string, string][] = [];
    vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
      calls.push([init.method ?? 'GET', url]);
      const body = init.method === 'DELETE' ? { cleared: 1 } : { lockouts: [entry] };
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    });
    expect(await lockoutsApi.list('alice@example.com')).toEqual([entry]);
    expect((await lockoutsApi.clear('alice@example.com', '2001:db8:1:2::/64')).cleared).toBe(1);
    expect((await lockoutsApi.clear('a/b')).cleared).toBe(1);
    expect(calls).toEqual([
      ['GET', '/api/v1/admin/lockouts?account=alice%40example.com'],
      ['DELETE', '/api/v1/admin/lockouts/alice%40example.com/2001%3Adb8%3A1%3A2%3A%3A%2F64'],
      ['DELETE', '/api/v1/admin/lockouts/a%2Fb'],
    ]);
  });
});
