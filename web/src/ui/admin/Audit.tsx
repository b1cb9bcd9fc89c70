// The admin console's audit log: filters (actor, action, target, time range), newest first,
// paged with the server's cursor, and export (JSON lines or CSV) of what the filters select.
// Reading and exporting are themselves recorded by the server.

import { useEffect, useState } from 'preact/hooks';
import { api } from '../../lib/api';
import { errorText } from '../../lib/client';
import { AUDIT_ACTIONS as WIRE_AUDIT_ACTIONS } from '../../gen/wire';
import type { AuditAction, AuditEntryDto, AuditQueryParams } from '../../gen/wire';
import { formatDate } from '../../lib/util';
import { t, type Key } from '../../i18n';
import { en } from '../../i18n/en';
import { Spinner } from '../common';

/** The action names the server records (enclave_core::audit::AuditAction, generated). */
export const AUDIT_ACTIONS: readonly AuditAction[] = WIRE_AUDIT_ACTIONS;

/** An action's label in the current language (the name itself for one this client does not know). */
export function actionLabel(action: string): string {
  const key = `audit.action.${action}.label`;
  return key in en ? t(key as Key) : action;
}

const TARGET_KINDS = ['user', 'channel', 'message', 'token', 'role', 'department', 'integration', 'site', 'audit_log', 'app_password'];

interface Filters {
  actor: string;
  action: string;
  target_kind: string;
  target_id: string;
  since: string;
  until: string;
}

const EMPTY: Filters = { actor: '', action: '', target_kind: '', target_id: '', since: '', until: '' };

/** A `datetime-local` value (local time) as RFC 3339 UTC, or undefined. */
export function toRfc3339(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** The query parameters of a set of filters. */
export function auditParams(f: Filters): AuditQueryParams {
  return {
    actor: f.actor.trim() || undefined,
    action: f.action || undefined,
    target_kind: f.target_kind || undefined,
    target_id: f.target_id.trim() || undefined,
    since: toRfc3339(f.since),
    until: toRfc3339(f.until),
  };
}

/** One summary as short text: `field: before → after; fact: value`. */
export function summaryText(summary: Record<string, unknown>): string {
  return Object.entries(summary)
    .map(([k, v]) => {
      if (v && typeof v === 'object' && 'after' in (v as object)) {
        const c = v as { before: unknown; after: unknown };
        return `${k}: ${c.before ?? '∅'} → ${c.after ?? '∅'}`;
      }
      return `${k}: ${String(v)}`;
    })
    .join('; ');
}

export function AuditTab() {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [entries, setEntries] = useState<AuditEntryDto[] | null>(null);
  const [next, setNext] = useState<string | undefined>();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const load = async (before?: string) => {
    setBusy(true);
    setError('');
    try {
      const page = await api.audit({ ...auditParams(filters), before, limit: 50 });
      setEntries((old) => (before && old ? [...old, ...page.entries] : page.entries));
      setNext(page.next_before);
    } catch (e) {
      setError(errorText(e));
      if (!before) setEntries([]);
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    void load();
  }, [filters]);

  const set = (k: keyof Filters) => (e: Event) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value });
  const apply = (e: Event) => {
    e.preventDefault();
    setFilters(draft);
  };

  return (
    <div class="admin-section audit">
      <form class="admin-toolbar audit-filters" onSubmit={apply} aria-label={t('audit.filters')}>
        <label>
          {t('audit.actor')}
          <input value={draft.actor} onInput={set('actor')} placeholder={t('audit.userId')} inputMode="numeric" />
        </label>
        <label>
          {t('audit.action')}
          <select value={draft.action} onChange={set('action')}>
            <option value="">{t('audit.any')}</option>
            {AUDIT_ACTIONS.map((a) => (
              <option key={a} value={a}>
                {actionLabel(a)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('audit.target')}
          <select value={draft.target_kind} onChange={set('target_kind')}>
            <option value="">{t('audit.any')}</option>
            {TARGET_KINDS.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('audit.targetId')}
          <input value={draft.target_id} onInput={set('target_id')} />
        </label>
        <label>
          {t('audit.since')}
          <input type="datetime-local" value={draft.since} onInput={set('since')} />
        </label>
        <label>
          {t('audit.until')}
          <input type="datetime-local" value={draft.until} onInput={set('until')} />
        </label>
        <button class="btn btn-primary" type="submit">
          {t('audit.apply')}
        </button>
        <a class="btn" href={api.auditExportUrl({ ...auditParams(filters), format: 'jsonl' })} download>
          {t('audit.exportJsonl')}
        </a>
        <a class="btn" href={api.auditExportUrl({ ...auditParams(filters), format: 'csv' })} download>
          {t('audit.exportCsv')}
        </a>
      </form>
      <p class="muted small">{t('audit.note')}</p>
      {error && (
        <p class="form-error" role="alert">
          {error}
        </p>
      )}
      {!entries ? (
        <Spinner />
      ) : entries.length === 0 ? (
        <p class="muted">{t('audit.empty')}</p>
      ) : (
        <div class="table-wrap">
          <table class="table audit-table">
            <thead>
              <tr>
                <th>#</th>
                <th>{t('audit.time')}</th>
                <th>{t('audit.actor')}</th>
                <th>{t('audit.action')}</th>
                <th>{t('audit.target')}</th>
                <th class="hide-sm">{t('audit.client')}</th>
                <th>{t('audit.summary')}</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.seq} data-action={e.action}>
                  <td class="muted" title={e.hash}>
                    {e.seq}
                  </td>
                  <td>{formatDate(e.at)}</td>
                  <td>{e.actor ?? '—'}</td>
                  <td title={e.action}>{actionLabel(e.action)}</td>
                  <td>{e.target_kind ? `${e.target_kind} ${e.target_id ?? ''}` : '—'}</td>
                  <td class="hide-sm muted small" title={e.user_agent ?? ''}>
                    {e.ip ?? '—'}
                  </td>
                  <td class="small">{summaryText(e.summary)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {next && (
        <button class="btn" disabled={busy} onClick={() => void load(next)}>
          {t('audit.more')}
        </button>
      )}
    </div>
  );
}
