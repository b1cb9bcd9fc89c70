// Administration: the sign-in throttle (docs/admin/lockout.md). Lists the (account, address)
// pairs with failed sign-ins, whether their next attempt must wait and until when, and clears
// one pair or all of an account's.

import { useEffect, useState } from 'preact/hooks';
import { request } from '../../lib/api';
import { reportError, store, toast } from '../../lib/client';
import type { LockoutDto, LockoutList, LockoutsCleared } from '../../gen/wire';
import { cls, formatFull } from '../../lib/util';
import { t, tn } from '../../i18n';
import { Spinner } from '../common';
import { Search } from '../icons';

const enc = encodeURIComponent;

export const lockoutsApi = {
  list: (account?: string) =>
    request<LockoutList>('GET', '/admin/lockouts' + (account ? `?account=${enc(account)}` : '')).then((r) => r.lockouts),
  clear: (account: string, source?: string) =>
    request<LockoutsCleared>('DELETE', `/admin/lockouts/${enc(account)}` + (source ? `/${enc(source)}` : '')),
};

/** What makes a pair wait, in words. */
export function delayReason(l: LockoutDto): string {
  switch (l.delayed_by) {
    case 'pair':
      return t('lockouts.byPair');
    case 'account':
      return t('lockouts.byAccount');
    case 'source':
      return t('lockouts.bySource');
    default:
      return t('lockouts.notDelayed');
  }
}

export function LockoutsTab() {
  const [list, setList] = useState<LockoutDto[] | null>(null);
  const [q, setQ] = useState('');
  const load = () => lockoutsApi.list(q.trim() || undefined).then(setList, reportError);
  useEffect(() => {
    const id = setTimeout(() => void load(), 150);
    return () => clearTimeout(id);
  }, [q]);
  const clear = async (account: string, source?: string) => {
    try {
      const r = await lockoutsApi.clear(account, source);
      toast(tn('lockouts.cleared', r.cleared), 'info');
      await load();
    } catch (e) {
      reportError(e);
    }
  };
  const confirmAll = (account: string) =>
    store.set({
      modal: {
        kind: 'confirm',
        title: t('lockouts.clearAllTitle', { account }),
        body: t('lockouts.clearAllBody'),
        action: t('lockouts.clearAll'),
        danger: false,
        onConfirm: () => void clear(account),
      },
    });
  return (
    <div class="admin-section">
      <div class="admin-toolbar">
        <div class="search-field">
          <Search size={16} />
          <input
            placeholder={t('lockouts.search')}
            aria-label={t('lockouts.search')}
            value={q}
            onInput={(e) => setQ((e.target as HTMLInputElement).value)}
          />
        </div>
        <button class="btn" onClick={() => void load()}>
          {t('lockouts.refresh')}
        </button>
      </div>
      <p class="muted small">{t('lockouts.note')}</p>
      {!list ? (
        <Spinner />
      ) : list.length === 0 ? (
        <p class="muted lockouts-empty">{t('lockouts.none')}</p>
      ) : (
        <div class="table-wrap">
          <table class="table lockouts">
            <thead>
              <tr>
                <th>{t('lockouts.account')}</th>
                <th>{t('lockouts.source')}</th>
                <th>{t('lockouts.failures')}</th>
                <th class="hide-sm">{t('lockouts.lastFailure')}</th>
                <th>{t('lockouts.until')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.map((l) => (
                <tr key={`${l.step}|${l.account}|${l.source}`} data-account={l.account} data-source={l.source}>
                  <td>
                    {l.account}
                    {l.step !== 'password' && <span class="tag">{t('lockouts.secondFactor')}</span>}
                  </td>
                  <td>
                    <code>{l.source}</code>
                    {l.known_source && <span class="tag">{t('lockouts.known')}</span>}
                  </td>
                  <td>{l.failures}</td>
                  <td class="hide-sm muted small">{formatFull(l.last_failure_at)}</td>
                  <td>
                    <span class={cls('status-pill', l.delayed_until ? 'off' : 'ok')} title={delayReason(l)}>
                      {l.delayed_until ? formatFull(l.delayed_until) : t('lockouts.notDelayed')}
                    </span>
                    {l.delayed_until && <div class="muted small">{delayReason(l)}</div>}
                  </td>
                  <td class="row-actions">
                    <button class="btn btn-sm" onClick={() => void clear(l.account, l.source)}>
                      {t('lockouts.clear')}
                    </button>
                    <button class="btn btn-sm btn-danger-ghost" onClick={() => confirmAll(l.account)}>
                      {t('lockouts.clearAll')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
