// The user's credentials in the settings dialog: sessions (signed-in devices), personal access
// tokens and app passwords (docs/admin/sessions.md). Secrets are shown once, right after they
// are made, and never again.

import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../lib/api';
import { reportError, toast } from '../lib/client';
import type { AppPasswordDto, SessionDto, TokenDto } from '../gen/wire';
import { formatFull } from '../lib/util';
import { t } from '../i18n';
import { Spinner } from './common';

const when = (iso: string | null | undefined) => (iso ? formatFull(iso) : '—');

/** One secret, shown once, with a copy button. */
function Secret({ value, note }: { value: string; note: string }) {
  return (
    <div class="secret-once" role="status">
      <p class="small">{note}</p>
      <code class="secret-value" data-testid="secret">
        {value}
      </code>
      <button
        type="button"
        class="btn btn-sm"
        onClick={() =>
          void navigator.clipboard?.writeText(value).then(
            () => toast(t('creds.copied'), 'info'),
            () => undefined,
          )
        }
      >
        {t('creds.copy')}
      </button>
    </div>
  );
}

/** The list of signed-in devices: end one, or all but this one. */
export function Sessions() {
  const [list, setList] = useState<SessionDto[] | null>(null);
  const load = () => api.sessions().then(setList, reportError);
  useEffect(() => void load(), []);
  const endOthers = async () => {
    try {
      const r = await api.endOtherSessions();
      toast(t('creds.endedOthers', { n: r.ended }), 'info');
      void load();
    } catch (err) {
      reportError(err);
    }
  };
  const others = list?.filter((s) => !s.current).length ?? 0;
  return (
    <div class="creds">
      <p class="muted small">{t('creds.sessionsHint')}</p>
      <div class="token-list sessions-list">
        {!list && <Spinner />}
        {list?.map((s) => (
          <div key={s.id} class="token-row session-row">
            <div class="cred-main">
              <div>
                <strong>{s.device}</strong> {s.current && <span class="tag">{t('creds.thisDevice')}</span>}
              </div>
              <div class="muted small">
                {[s.client, s.ip].filter(Boolean).join(' · ')}
              </div>
              <div class="muted small">
                {t('creds.created', { date: when(s.created_at) })} · {t('creds.lastSeen', { date: when(s.last_seen_at) })}
              </div>
            </div>
            {!s.current && (
              <button class="btn btn-sm" onClick={() => api.endSession(s.id).then(load, reportError)}>
                {t('creds.end')}
              </button>
            )}
          </div>
        ))}
      </div>
      <div class="modal-foot">
        <button class="btn btn-danger" disabled={others === 0} onClick={() => void endOthers()}>
          {t('creds.endOthers')}
        </button>
      </div>
    </div>
  );
}

/**
 * A kind of credential made once and then only listed: a form to make one (its secret shown
 * once), the list with a revoke button on each. Access tokens and app passwords are two uses.
 */
function OneTimeCredentials<T extends { id: string }>(props: {
  hint: string;
  /** The form's fields (their state is the caller's). */
  fields: ComponentChildren;
  canMake: boolean;
  makeLabel: string;
  /** Makes one; resolves to its secret. */
  make: () => Promise<string>;
  /** Called after a credential was made (to clear the form). */
  made: () => void;
  onceNote: string;
  load: () => Promise<T[]>;
  empty: string;
  row: (item: T) => ComponentChildren;
  revoke: (id: string) => Promise<unknown>;
}) {
  const [list, setList] = useState<T[] | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const load = () => props.load().then(setList, reportError);
  useEffect(() => void load(), []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      setSecret(await props.make());
      props.made();
      void load();
    } catch (err) {
      reportError(err);
    }
    setBusy(false);
  };
  return (
    <div class="creds">
      <p class="muted small">{props.hint}</p>
      <form class="form cred-form" onSubmit={submit}>
        {props.fields}
        <div class="modal-foot">
          <button class="btn btn-primary" type="submit" disabled={busy || !props.canMake}>
            {props.makeLabel}
          </button>
        </div>
      </form>
      {secret && <Secret value={secret} note={props.onceNote} />}
      <div class="token-list">
        {!list && <Spinner />}
        {list?.length === 0 && <p class="muted small">{props.empty}</p>}
        {list?.map((item) => (
          <div key={item.id} class="token-row">
            <div class="cred-main">{props.row(item)}</div>
            <button class="btn btn-sm" onClick={() => props.revoke(item.id).then(load, reportError)}>
              {t('creds.revoke')}
            </button>
          </div>
        ))}
      </div>
    </div>
  );
}

const SCOPES = ['read', 'write', 'admin'] as const;
type TokenScope = (typeof SCOPES)[number];

/** Personal access tokens: create (name, scope, expiry), list, revoke. */
export function AccessTokens() {
  const [name, setName] = useState('');
  const [scope, setScope] = useState<TokenScope>('read');
  const [days, setDays] = useState(30);
  return (
    <OneTimeCredentials<TokenDto>
      hint={t('creds.tokensHint')}
      fields={
        <>
          <label class="field">
            <span>{t('creds.name')}</span>
            <input name="token-name" value={name} maxLength={64} required onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          </label>
          <label class="field">
            <span>{t('creds.scope')}</span>
            <select name="token-scope" value={scope} onChange={(e) => setScope((e.target as HTMLSelectElement).value as TokenScope)}>
              {SCOPES.map((s) => (
                <option key={s} value={s}>
                  {t(`creds.scope.${s}`)}
                </option>
              ))}
            </select>
          </label>
          <label class="field">
            <span>{t('creds.expiresInDays')}</span>
            <input
              name="token-days"
              type="number"
              min={1}
              max={3650}
              value={days}
              required
              onInput={(e) => setDays(Number((e.target as HTMLInputElement).value))}
            />
          </label>
        </>
      }
      canMake={!!name.trim()}
      makeLabel={t('creds.createToken')}
      make={() => api.createToken({ name, scope, expires_in_days: days }).then((made) => made.token)}
      made={() => setName('')}
      onceNote={t('creds.tokenOnce')}
      load={() => api.tokens().then((ts) => ts.filter((x) => x.kind === 'pat'))}
      empty={t('creds.noTokens')}
      row={(tk) => (
        <>
          <div>
            <strong>{tk.name}</strong> <span class="tag">{t(`creds.scope.${tk.scope as TokenScope}`)}</span>
          </div>
          <div class="muted small">
            {t('creds.lastUsed', { date: when(tk.last_used_at) })} · {t('creds.expires', { date: when(tk.expires_at) })}
          </div>
        </>
      )}
      revoke={(id) => api.revokeToken(id)}
    />
  );
}

/** App passwords for clients without single sign-on: create (shown once), list, revoke. */
export function AppPasswords() {
  const [name, setName] = useState('');
  return (
    <OneTimeCredentials<AppPasswordDto>
      hint={t('creds.appsHint')}
      fields={
        <label class="field">
          <span>{t('creds.name')}</span>
          <input name="app-name" value={name} maxLength={64} required placeholder={t('creds.appPlaceholder')} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
      }
      canMake={!!name.trim()}
      makeLabel={t('creds.createApp')}
      make={() => api.createAppPassword({ name }).then((made) => made.password)}
      made={() => setName('')}
      onceNote={t('creds.appOnce')}
      load={() => api.appPasswords()}
      empty={t('creds.noApps')}
      row={(p) => (
        <>
          <div>
            <strong>{p.name}</strong> <code class="muted small">{p.hint}…</code>
          </div>
          <div class="muted small">
            {t('creds.created', { date: when(p.created_at) })} · {t('creds.lastUsed', { date: when(p.last_used_at) })}
          </div>
        </>
      )}
      revoke={(id) => api.revokeAppPassword(id)}
    />
  );
}
