import { afterEach, describe, expect, it, vi } from 'vitest';
import { directoryApi, reportLine, runStatus } from '../src/ui/admin/DirectorySync';
import { setLang } from '../src/i18n';
import type { SyncRunDto } from '../src/gen/wire';

const run: SyncRunDto = {
  id: '7',
  dry_run: false,
  trigger: 'api',
  status: 'done',
  started_at: '2026-01-01T00:00:00Z',
  finished_at: '2026-01-01T00:00:01Z',
  done: 5,
  total: 5,
  report: {
    found: 5,
    created: 2,
    linked: 1,
    updated: 1,
    deactivated: 1,
    reactivated: 0,
    unchanged: 0,
    changes: [{ username: 'bob', action: 'deactivate', details: ['disabled in the directory'] }],
    problems: [],
    refused: null,
  },
  error: '',
};

describe('directory sync (admin)', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    setLang('en');
  });

  it('says how a run went, in both languages', () => {
    expect(runStatus(run)).toBe('Done');
    expect(runStatus({ ...run, dry_run: true })).toContain('nothing was changed');
    expect(runStatus({ ...run, status: 'running', done: 2, total: 10 })).toBe('Running: 2 of 10');
    expect(runStatus({ ...run, status: 'refused' })).toContain('Refused');
    expect(reportLine(run)).toBe('5 in the directory · 3 created · 1 updated · 1 deactivated · 0 reactivated');
    setLang('zh-CN');
    expect(runStatus({ ...run, status: 'failed' })).toBe('失败');
    expect(reportLine(run)).toContain('停用 1');
  });

  it('lists providers and starts a dry run on the encoded path', async () => {
    const calls: [string, string, string | undefined][] = [];
    vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
      calls.push([init.method ?? 'GET', url, init.body as string | undefined]);
      const body = init.method === 'POST' ? { run_id: '8' } : { providers: [] };
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    });
    expect(await directoryApi.list()).toEqual([]);
    expect((await directoryApi.sync('corp/x', true)).run_id).toBe('8');
    expect(calls[0].slice(0, 2)).toEqual(['GET', '/api/v1/admin/identity-providers']);
    expect(calls[1][0]).toBe('POST');
    expect(calls[1][1]).toBe('/api/v1/admin/identity-providers/corp%2Fx/sync');
    expect(JSON.parse(calls[1][2]!)).toEqual({ dry_run: true });
  });
});
