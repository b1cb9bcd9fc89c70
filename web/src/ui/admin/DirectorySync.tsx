// Administration: identity providers (LDAP / Active Directory) and their directory sync
// (docs/admin/ldap.md). Lists each provider with its last runs, the last run's report and
// errors, and starts a dry run or a real sync; while a run goes on, its progress is polled.

import { useEffect, useState } from 'preact/hooks';
import { request } from '../../lib/api';
import { reportError, toast } from '../../lib/client';
import type { IdentityProviderDto, IdentityProviderList, SyncRunDto, SyncStarted } from '../../gen/wire';
import { cls, formatFull } from '../../lib/util';
import { t, tn } from '../../i18n';
import { Spinner } from '../common';

const enc = encodeURIComponent;

export const directoryApi = {
  list: () => request<IdentityProviderList>('GET', '/admin/identity-providers').then((r) => r.providers),
  sync: (id: string, dryRun: boolean) =>
    request<SyncStarted>('POST', `/admin/identity-providers/${enc(id)}/sync`, { dry_run: dryRun }),
};

/** A run's status in words. */
export function runStatus(run: SyncRunDto): string {
  switch (run.status) {
    case 'running':
      return run.total != null ? t('dirsync.running', { done: run.done, total: run.total }) : t('dirsync.starting');
    case 'done':
      return run.dry_run ? t('dirsync.doneDry') : t('dirsync.done');
    case 'refused':
      return t('dirsync.refused');
    default:
      return t('dirsync.failed');
  }
}

/** The counts of a run's report, in one line. */
export function reportLine(run: SyncRunDto): string {
  const r = run.report;
  if (!r) return '';
  return t('dirsync.counts', {
    found: r.found,
    created: r.created + r.linked,
    updated: r.updated,
    deactivated: r.deactivated,
    reactivated: r.reactivated,
  });
}

function actionLabel(action: string): string {
  switch (action) {
    case 'create':
      return t('dirsync.create');
    case 'link':
      return t('dirsync.link');
    case 'deactivate':
      return t('dirsync.deactivate');
    case 'reactivate':
      return t('dirsync.reactivate');
    default:
      return t('dirsync.update');
  }
}

function RunReport({ run }: { run: SyncRunDto }) {
  const r = run.report;
  return (
    <div class="dirsync-report" data-run={run.id}>
      <div class="dirsync-run-head">
        <span class={cls('status-pill', run.status === 'done' ? 'ok' : run.status === 'running' ? '' : 'off')}>{runStatus(run)}</span>
        {run.dry_run && <span class="tag">{t('dirsync.dryRunTag')}</span>}
        <span class="muted small">
          {formatFull(run.started_at)} · {t(`dirsync.trigger.${run.trigger}` as 'dirsync.trigger.api')}
        </span>
      </div>
      {run.status === 'running' && run.total != null && run.total > 0 && (
        <progress class="dirsync-progress" max={run.total} value={run.done} aria-label={runStatus(run)} />
      )}
      {run.error && <p class="dirsync-error">{run.error}</p>}
      {r && !r.refused && <p class="small">{reportLine(run)}</p>}
      {r && r.changes.length > 0 && (
        <div class="table-wrap">
          <table class="table dirsync-changes">
            <thead>
              <tr>
                <th>{t('dirsync.user')}</th>
                <th>{t('dirsync.change')}</th>
                <th class="hide-sm">{t('dirsync.details')}</th>
              </tr>
            </thead>
            <tbody>
              {r.changes.map((c) => (
                <tr key={`${c.action}|${c.username}`} data-user={c.username} data-action={c.action}>
                  <td>{c.username}</td>
                  <td>
                    <span class={cls('tag', c.action === 'deactivate' && 'tag-danger')}>{actionLabel(c.action)}</span>
                  </td>
                  <td class="hide-sm muted small">{c.details.join('; ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {r && r.problems.length > 0 && (
        <details class="dirsync-problems">
          <summary>{tn('dirsync.problems', r.problems.length)}</summary>
          <ul>
            {r.problems.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}

function ProviderCard({ p, onStart }: { p: IdentityProviderDto; onStart: (dry: boolean) => void }) {
  const last = p.runs[0];
  const busy = p.running || last?.status === 'running';
  return (
    <section class="dirsync-provider card" data-provider={p.id}>
      <header class="dirsync-provider-head">
        <div>
          <h3>{p.name}</h3>
          <div class="muted small">
            <code>{p.url}</code> · {tn('dirsync.linked', p.linked_accounts)} ·{' '}
            {p.sync_interval_minutes != null
              ? t('dirsync.every', { minutes: p.sync_interval_minutes })
              : t('dirsync.manual')}
          </div>
        </div>
        <div class="row-actions">
          <button class="btn" disabled={busy} onClick={() => onStart(true)}>
            {t('dirsync.dryRun')}
          </button>
          <button class="btn btn-primary" disabled={busy} onClick={() => onStart(false)}>
            {t('dirsync.syncNow')}
          </button>
        </div>
      </header>
      {last ? <RunReport run={last} /> : <p class="muted">{t('dirsync.never')}</p>}
      {p.runs.length > 1 && (
        <details class="dirsync-history">
          <summary>{t('dirsync.history')}</summary>
          <ul>
            {p.runs.slice(1).map((r) => (
              <li key={r.id}>
                <span class="muted small">{formatFull(r.started_at)}</span> {runStatus(r)}
                {r.dry_run && <span class="tag">{t('dirsync.dryRunTag')}</span>} {reportLine(r)}
                {r.error && <span class="dirsync-error"> {r.error}</span>}
              </li>
            ))}
          </ul>
        </details>
      )}
    </section>
  );
}

export function DirectorySyncTab() {
  const [list, setList] = useState<IdentityProviderDto[] | null>(null);
  const load = () => directoryApi.list().then(setList, reportError);
  useEffect(() => {
    void load();
  }, []);
  // Poll while a run goes on.
  const running = !!list?.some((p) => p.running || p.runs[0]?.status === 'running');
  useEffect(() => {
    if (!running) return;
    const id = setInterval(() => void load(), 1000);
    return () => clearInterval(id);
  }, [running]);
  const start = async (id: string, dry: boolean) => {
    try {
      await directoryApi.sync(id, dry);
      toast(dry ? t('dirsync.startedDry') : t('dirsync.started'), 'info');
      await load();
      // The run may finish before the first poll: look again shortly.
      setTimeout(() => void load(), 500);
    } catch (e) {
      reportError(e);
    }
  };
  return (
    <div class="admin-section">
      <p class="muted small">{t('dirsync.note')}</p>
      {!list ? (
        <Spinner />
      ) : list.length === 0 ? (
        <p class="muted">{t('dirsync.none')}</p>
      ) : (
        list.map((p) => <ProviderCard key={p.id} p={p} onStart={(dry) => void start(p.id, dry)} />)
      )}
    </div>
  );
}
