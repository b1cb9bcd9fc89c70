// Administration: the scheduled backups (docs/admin/backup.md). Shows `[backup]` (folder,
// interval, how many are kept), the last run of the `backup` job, the backups in the folder with
// their manifests' counts, and starts a backup now.

import { useEffect, useState } from 'preact/hooks';
import { request } from '../../lib/api';
import { reportError, toast } from '../../lib/client';
import type { BackupsDto } from '../../gen/wire';
import { cls, formatFull } from '../../lib/util';
import { t } from '../../i18n';
import { Spinner } from '../common';

export const backupsApi = {
  get: () => request<BackupsDto>('GET', '/admin/backups'),
  start: () => request<BackupsDto>('POST', '/admin/backups'),
};

function size(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

function interval(secs: number): string {
  if (secs % 86400 === 0) return t('backups.everyDays', { n: secs / 86400 });
  if (secs % 3600 === 0) return t('backups.everyHours', { n: secs / 3600 });
  return t('backups.everyMinutes', { n: Math.round(secs / 60) });
}

function statusText(status: string): string {
  if (status === 'ok') return t('backups.status.ok');
  if (status === 'failed') return t('backups.status.failed');
  return t('backups.status.running');
}

export function BackupsTab() {
  const [data, setData] = useState<BackupsDto | null>(null);
  const load = () => backupsApi.get().then(setData, reportError);
  useEffect(() => {
    void load();
  }, []);
  // While a backup runs, look again every two seconds.
  useEffect(() => {
    if (!data?.running) return;
    const id = setTimeout(() => void load(), 2000);
    return () => clearTimeout(id);
  }, [data]);
  const start = async () => {
    try {
      setData(await backupsApi.start());
      toast(t('backups.started'), 'info');
    } catch (e) {
      reportError(e);
    }
  };
  if (!data) return <Spinner />;
  const run = data.last_run;
  return (
    <div class="admin-section backups">
      <div class="admin-toolbar">
        <button class="btn" onClick={() => void load()}>
          {t('backups.refresh')}
        </button>
        {data.schedule && (
          <button class="btn btn-primary" disabled={data.running} onClick={() => void start()}>
            {t('backups.now')}
          </button>
        )}
      </div>
      <h3>{t('backups.schedule')}</h3>
      {data.schedule ? (
        <dl class="backups-schedule">
          <dt>{t('backups.folder')}</dt>
          <dd>
            <code>{data.schedule.to}</code>
          </dd>
          <dt>{t('backups.interval')}</dt>
          <dd>{interval(data.schedule.interval_secs)}</dd>
          <dt>{t('backups.keep')}</dt>
          <dd>{data.schedule.keep}</dd>
        </dl>
      ) : (
        <p class="muted backups-off">{t('backups.off')}</p>
      )}
      <h3>{t('backups.lastRun')}</h3>
      {!run ? (
        <p class="muted">{t('backups.noRun')}</p>
      ) : (
        <div class="backups-last" data-status={run.status}>
          <span class={cls('status-pill', run.status === 'failed' ? 'off' : 'ok')}>{statusText(run.status)}</span>{' '}
          {formatFull(run.started_at)}
          {run.took_ms != null && <span class="muted small"> · {t('backups.took', { s: (run.took_ms / 1000).toFixed(1) })}</span>}
          {run.message && <div class="muted small">{run.message}</div>}
        </div>
      )}
      <h3>{t('backups.list')}</h3>
      {data.folder_problem && <p class="error">{data.folder_problem}</p>}
      {data.backups.length === 0 ? (
        <p class="muted">{t('backups.none')}</p>
      ) : (
        <div class="table-wrap">
          <table class="table backups-list">
            <thead>
              <tr>
                <th>{t('backups.name')}</th>
                <th>{t('backups.time')}</th>
                <th>{t('backups.size')}</th>
                <th>{t('backups.rows')}</th>
                <th>{t('backups.objects')}</th>
                <th class="hide-sm">{t('backups.key')}</th>
              </tr>
            </thead>
            <tbody>
              {data.backups.map((b) => (
                <tr key={b.name} data-name={b.name}>
                  <td>
                    <code>{b.name}</code>
                    {b.problem && <div class="error small">{b.problem}</div>}
                  </td>
                  <td class="muted small">{formatFull(b.created_at)}</td>
                  <td>{size(b.bytes)}</td>
                  <td>
                    {b.rows} <span class="muted small">({t('backups.tables', { n: b.tables })})</span>
                  </td>
                  <td>{b.objects}</td>
                  <td class="hide-sm">{b.with_key ? t('backups.withKey') : t('backups.withoutKey')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p class="muted small">{t('backups.note')}</p>
    </div>
  );
}
