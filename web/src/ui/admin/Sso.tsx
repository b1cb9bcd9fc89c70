// Administration: single sign-on providers (docs/admin/sso.md). Each provider's state on the
// node that answered: whether its discovery document could be read, the last error, the last
// sign-in and how many accounts are linked; "Check now" reads every discovery document again.

import { useEffect, useState } from 'preact/hooks';
import { request } from '../../lib/api';
import { reportError } from '../../lib/client';
import type { SsoStatusDto, SsoStatusList } from '../../gen/wire';
import { cls, formatFull } from '../../lib/util';
import { t } from '../../i18n';
import { Spinner } from '../common';

export const ssoAdminApi = {
  status: (refresh = false) =>
    request<SsoStatusList>('GET', '/admin/sso' + (refresh ? '?refresh=true' : '')).then((r) => r.providers),
};

export function ssoState(p: SsoStatusDto): 'ok' | 'off' | 'unknown' {
  return p.discovery_ok === true ? 'ok' : p.discovery_ok === false ? 'off' : 'unknown';
}

export function SsoTab() {
  const [list, setList] = useState<SsoStatusDto[] | null>(null);
  const [busy, setBusy] = useState(false);
  const load = (refresh: boolean) => {
    setBusy(true);
    return ssoAdminApi
      .status(refresh)
      .then(setList, reportError)
      .finally(() => setBusy(false));
  };
  useEffect(() => void load(false), []);
  return (
    <div class="admin-section sso-admin">
      <div class="admin-toolbar">
        <p class="muted small">{t('sso.note')}</p>
        <button class="btn" disabled={busy} onClick={() => void load(true)}>
          {busy ? <Spinner size={14} /> : t('sso.check')}
        </button>
      </div>
      {!list ? (
        <Spinner />
      ) : list.length === 0 ? (
        <p class="muted sso-empty">{t('sso.none')}</p>
      ) : (
        <div class="table-wrap">
          <table class="table sso-table">
            <thead>
              <tr>
                <th>{t('sso.provider')}</th>
                <th>{t('sso.status')}</th>
                <th>{t('sso.linked')}</th>
                <th class="hide-sm">{t('sso.lastSignIn')}</th>
              </tr>
            </thead>
            <tbody>
              {list.map((p) => (
                <tr key={p.id} data-provider={p.id}>
                  <td>
                    <strong>{p.label}</strong>
                    <div class="muted small">
                      <code>{p.id}</code> · {p.issuer}
                    </div>
                  </td>
                  <td>
                    <span class={cls('status-pill', ssoState(p) === 'ok' ? 'ok' : 'off')}>
                      {t(`sso.state.${ssoState(p)}`)}
                    </span>
                    {p.end_session && <span class="tag">{t('sso.endSession')}</span>}
                    {p.last_error && <div class="form-error small sso-error">{p.last_error}</div>}
                    {p.last_checked_at && (
                      <div class="muted small">{t('sso.checked', { when: formatFull(p.last_checked_at) })}</div>
                    )}
                  </td>
                  <td class="sso-linked">{p.linked_users}</td>
                  <td class="hide-sm muted small">{p.last_sign_in_at ? formatFull(p.last_sign_in_at) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
