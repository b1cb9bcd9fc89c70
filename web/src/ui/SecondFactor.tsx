// Second factors (docs/admin/second-factor.md): the second step of signing in (a code from an
// authenticator app, a recovery code or a security key, or setting up the app when the policy
// requires it), the security settings' section (set up with a QR code, recovery codes shown
// once, turn off; security keys and passkeys added, renamed and removed), and the
// administrators' policy tab.

import { useEffect, useState } from 'preact/hooks';
import { ApiError, request } from '../lib/api';
import { confirm, enterSession, errorText, reportError, toast } from '../lib/client';
import type {
  EnrolledDto,
  RecoveryCodesDto,
  ReauthRequest,
  SecondFactorChallengeDto,
  SecondFactorLoginResponse,
  SecondFactorOverview,
  SecondFactorStatusDto,
  TotpSetupDto,
  WebAuthnKeyDto,
  WebAuthnKeyList,
  WebAuthnRegisteredDto,
  WebAuthnRegistrationDto,
} from '../gen/wire';
import { createCredentialOrRefused, getAssertion, webauthnSupported } from '../lib/webauthn';
import { displayName, formatDate } from '../lib/util';
import { t, tn } from '../i18n';
import { Spinner } from './common';

const enc = encodeURIComponent;

export const secondFactorApi = {
  pass: (challenge: string, method: 'totp' | 'recovery', code: string) =>
    request<SecondFactorLoginResponse>('POST', '/auth/login/second-factor', { challenge, method, code, client: 'Enclave web' }, { quiet401: true }),
  passKey: (challenge: string, credential: Record<string, unknown>) =>
    request<SecondFactorLoginResponse>(
      'POST',
      '/auth/login/second-factor',
      { challenge, method: 'webauthn', credential, client: 'Enclave web' },
      { quiet401: true },
    ),
  keys: () => request<WebAuthnKeyList>('GET', '/users/me/second-factor/webauthn'),
  beginKey: (body: ReauthRequest) =>
    request<WebAuthnRegistrationDto>('POST', '/users/me/second-factor/webauthn/registrations', body, { quiet401: true }),
  finishKey: (id: string, name: string, credential: Record<string, unknown>) =>
    request<WebAuthnRegisteredDto>('POST', `/users/me/second-factor/webauthn/registrations/${enc(id)}`, { name, credential }, { quiet401: true }),
  renameKey: (id: string, name: string) => request<WebAuthnKeyDto>('PATCH', `/users/me/second-factor/webauthn/${enc(id)}`, { name }),
  removeKey: (id: string, body: ReauthRequest) =>
    request<void>('POST', `/users/me/second-factor/webauthn/${enc(id)}/remove`, body, { quiet401: true }),
  loginSetup: (challenge: string) => request<TotpSetupDto>('POST', '/auth/login/totp-setup', { challenge }, { quiet401: true }),
  loginKeySetup: (challenge: string) =>
    request<WebAuthnRegistrationDto>('POST', '/auth/login/webauthn-setup', { challenge }, { quiet401: true }),
  enrolKey: (challenge: string, registration: string, name: string, credential: Record<string, unknown>) =>
    request<SecondFactorLoginResponse>(
      'POST',
      '/auth/login/second-factor',
      { challenge, method: 'webauthn', registration, name, credential, client: 'Enclave web' },
      { quiet401: true },
    ),
  status: () => request<SecondFactorStatusDto>('GET', '/users/me/second-factor'),
  begin: () => request<TotpSetupDto>('POST', '/users/me/second-factor/totp'),
  // A wrong code or password answers 401: shown in the form, not a sign-out (`quiet401`).
  confirm: (code: string) =>
    request<RecoveryCodesDto>('POST', '/users/me/second-factor/totp/confirm', { code }, { quiet401: true }),
  disable: (body: ReauthRequest) => request<void>('POST', '/users/me/second-factor/disable', body, { quiet401: true }),
  newCodes: (body: ReauthRequest) =>
    request<RecoveryCodesDto>('POST', '/users/me/second-factor/recovery-codes', body, { quiet401: true }),
  overview: () => request<SecondFactorOverview>('GET', '/admin/second-factor'),
  setPolicy: (require: string, grace_days: number) =>
    request<SecondFactorOverview>('PUT', '/admin/second-factor', { require, grace_days }),
  reset: (userId: string) => request<void>('DELETE', `/users/${enc(userId)}/second-factor`),
};

/** A password, or a code (six digits or a recovery code), as the re-authentication body. */
export function reauthBody(input: string): ReauthRequest {
  const v = input.trim();
  const compact = v.replace(/[\s-]/g, '');
  if (/^\d{6}$/.test(compact) || /^[a-z0-9]{10}$/i.test(compact) && v.includes('-')) return { code: v };
  return { password: input };
}

/**
 * The re-authentication body of a change: the password or a code typed in `input`; for an
 * account without a password of its own (single sign-on), nothing, its recent sign-in proves it.
 */
export function reauthFor(hasPassword: boolean, input: string): ReauthRequest {
  return hasPassword || input.trim() ? reauthBody(input) : {};
}

/** Changes made in one settings section (a key added: recovery codes issued), for the other. */
const changeListeners = new Set<() => void>();
function announceChange() {
  changeListeners.forEach((f) => f());
}
function useOnChange(f: () => void) {
  useEffect(() => {
    changeListeners.add(f);
    return () => void changeListeners.delete(f);
  }, []);
}

/**
 * The password-or-code field that re-authenticates a second-factor change; for an account with
 * no password of its own, a note that its recent sign-in does (nothing to type).
 */
function ReauthField({
  name,
  value,
  onInput,
  password = true,
}: {
  name: string;
  value: string;
  onInput: (v: string) => void;
  password?: boolean;
}) {
  if (!password) {
    return (
      <p class="small" data-testid="reauth-recent">
        {t('mfa.reauthRecent')}
      </p>
    );
  }
  return (
    <label class="field">
      <span>{t('mfa.reauth')}</span>
      <input
        name={name}
        type="password"
        autocomplete="current-password"
        placeholder={t('mfa.passwordOrCode')}
        value={value}
        onInput={(e) => onInput((e.target as HTMLInputElement).value)}
      />
    </label>
  );
}

/** The name of a security key being registered or renamed (at most 64 characters). */
function KeyNameField({ value, onInput }: { value: string; onInput: (v: string) => void }) {
  return (
    <label class="field">
      <span>{t('mfa.key.name')}</span>
      <input
        name="key-name"
        maxLength={64}
        placeholder={t('mfa.key.namePlaceholder')}
        value={value}
        onInput={(e) => onInput((e.target as HTMLInputElement).value)}
      />
    </label>
  );
}

function codeError(err: unknown): string {
  if (err instanceof ApiError && err.code === 'webauthn_refused') return t('mfa.key.refused');
  if (err instanceof ApiError && err.status === 403 && err.code === 'forbidden') return t('mfa.signInAgain');
  if (err instanceof ApiError && err.status === 401) return t('mfa.wrongCode');
  if (err instanceof ApiError && err.code === 'invalid_field' && err.field === 'challenge') return t('mfa.expired');
  return errorText(err);
}

/** The QR code the server drew (an SVG document of its own), as an image. */
function QrCode({ svg }: { svg: string }) {
  return <img class="mfa-qr" alt="QR code" width={200} height={200} src={'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(svg)} />;
}

function TotpSetupView({ setup }: { setup: TotpSetupDto }) {
  return (
    <div class="mfa-setup">
      <p class="small">{t('mfa.scan')}</p>
      <QrCode svg={setup.qr_svg} />
      <p class="muted small">{t('mfa.secretHint')}</p>
      <code class="mfa-secret" data-testid="totp-secret">
        {setup.secret.replace(/(.{4})/g, '$1 ').trim()}
      </code>
    </div>
  );
}

/** Recovery codes, shown once, with copy and download. */
export function RecoveryCodes({ codes, onDone }: { codes: string[]; onDone?: () => void }) {
  const [copied, setCopied] = useState(false);
  const text = codes.join('\n') + '\n';
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
    } catch (e) {
      reportError(e);
    }
  };
  const href = 'data:text/plain;charset=utf-8,' + encodeURIComponent(text);
  return (
    <div class="mfa-recovery" role="region" aria-label={t('mfa.recoveryTitle')}>
      <h3>{t('mfa.recoveryTitle')}</h3>
      <p class="small">{t('mfa.recoveryBody')}</p>
      <ol class="mfa-codes" data-testid="recovery-codes">
        {codes.map((c) => (
          <li key={c}>
            <code>{c}</code>
          </li>
        ))}
      </ol>
      <div class="modal-foot">
        <button type="button" class="btn" onClick={() => void copy()}>
          {copied ? t('mfa.copied') : t('mfa.copy')}
        </button>
        <a class="btn" href={href} download="enclave-recovery-codes.txt">
          {t('mfa.download')}
        </a>
        {onDone && (
          <button type="button" class="btn btn-primary" onClick={onDone}>
            {t('mfa.continue')}
          </button>
        )}
      </div>
    </div>
  );
}

/** The second step of signing in, in place of the password form. */
export function SecondFactorStep({ challenge, onCancel }: { challenge: SecondFactorChallengeDto; onCancel: () => void }) {
  const enrol = challenge.enrol_required;
  // Without an authenticator app (security keys, and their recovery codes), the key comes first.
  const hasTotp = enrol || challenge.methods.includes('totp');
  const [method, setMethod] = useState<'totp' | 'recovery'>(hasTotp ? 'totp' : 'recovery');
  const [keyView, setKeyView] = useState(!hasTotp);
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [setup, setSetup] = useState<TotpSetupDto | null>(null);
  const [done, setDone] = useState<SecondFactorLoginResponse | null>(null);
  const [enrolKeyView, setEnrolKeyView] = useState(false);
  const [keyName, setKeyName] = useState(() => t('mfa.key.enrolDefault'));
  useEffect(() => {
    if (!enrol) return;
    secondFactorApi.loginSetup(challenge.challenge).then(setSetup, (e) => setError(codeError(e)));
  }, [challenge.challenge]);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!code.trim()) return;
    setBusy(true);
    setError('');
    try {
      const r = await secondFactorApi.pass(challenge.challenge, method, code.trim());
      if (r.recovery_codes) {
        setDone(r);
        setBusy(false);
      } else {
        await enterSession(r.user);
      }
    } catch (err) {
      setError(codeError(err));
      setBusy(false);
    }
  };

  const useKey = async () => {
    if (!challenge.webauthn) return;
    setBusy(true);
    setError('');
    try {
      const credential = await getAssertion(challenge.webauthn);
      const r = await secondFactorApi.passKey(challenge.challenge, credential);
      await enterSession(r.user);
    } catch (err) {
      // The browser's own refusal (cancelled, timed out, no matching key) is a DOMException.
      setError(err instanceof ApiError ? codeError(err) : t('mfa.key.cancelled'));
      setBusy(false);
    }
  };

  // Enrolling a security key instead of an app (an enrol-only challenge): register it, and the
  // answer opens the session with the recovery codes.
  const enrolWithKey = async (e: Event) => {
    e.preventDefault();
    if (!keyName.trim()) return;
    setBusy(true);
    setError('');
    try {
      const reg = await secondFactorApi.loginKeySetup(challenge.challenge);
      const credential = await createCredentialOrRefused(reg.options);
      if (!credential) {
        setError(t('mfa.key.cancelled'));
        setBusy(false);
        return;
      }
      const r = await secondFactorApi.enrolKey(challenge.challenge, reg.id, keyName.trim(), credential);
      setDone(r);
      setBusy(false);
    } catch (err) {
      setError(codeError(err));
      setBusy(false);
    }
  };

  if (done?.recovery_codes) {
    return <RecoveryCodes codes={done.recovery_codes} onDone={() => void enterSession(done.user)} />;
  }
  if (enrol && enrolKeyView) {
    // Its own key: without it Preact would turn the button just clicked ("enrol a key instead",
    // type=button) into this form's submit button while the click is still being dispatched,
    // and the browser would then submit it (registering at once, before the name is read).
    return (
      <form key="enrol-key" class="form mfa-step" onSubmit={enrolWithKey} novalidate>
        <h2>{t('mfa.title')}</h2>
        <p class="small">{t('mfa.key.enrolPrompt')}</p>
        <KeyNameField value={keyName} onInput={setKeyName} />
        {error && (
          <div class="form-error" role="alert">
            {error}
          </div>
        )}
        <button class="btn btn-primary btn-block" type="submit" data-testid="enrol-key" disabled={busy || !keyName.trim()}>
          {busy ? <Spinner size={16} /> : t('mfa.key.register')}
        </button>
        <div class="mfa-links">
          <button
            type="button"
            class="link-btn"
            onClick={() => {
              setEnrolKeyView(false);
              setError('');
            }}
          >
            {t('mfa.useAppInstead')}
          </button>
          <button type="button" class="link-btn" onClick={onCancel}>
            {t('mfa.backToLogin')}
          </button>
        </div>
      </form>
    );
  }
  const canRecover = !enrol && challenge.methods.includes('recovery');
  const canKey = !enrol && challenge.methods.includes('webauthn') && !!challenge.webauthn && webauthnSupported();
  if (keyView) {
    return (
      <div class="form mfa-step">
        <h2>{t('mfa.title')}</h2>
        <p class="small">{t('mfa.key.prompt')}</p>
        {error && (
          <div class="form-error" role="alert">
            {error}
          </div>
        )}
        <button class="btn btn-primary btn-block" type="button" data-testid="use-key" disabled={busy || !canKey} onClick={() => void useKey()}>
          {busy ? <Spinner size={16} /> : t('mfa.key.use')}
        </button>
        {!webauthnSupported() && <p class="muted small">{t('mfa.key.unsupported')}</p>}
        <div class="mfa-links">
          {canRecover && (
            <button
              type="button"
              class="link-btn"
              onClick={() => {
                setKeyView(false);
                setCode('');
                setError('');
              }}
            >
              {t('mfa.useRecovery')}
            </button>
          )}
          <button type="button" class="link-btn" onClick={onCancel}>
            {t('mfa.backToLogin')}
          </button>
        </div>
      </div>
    );
  }
  return (
    <form key="code" class="form mfa-step" onSubmit={submit} novalidate>
      <h2>{t('mfa.title')}</h2>
      {enrol ? (
        <>
          <p class="small">{t('mfa.enrolRequired')}</p>
          {setup ? <TotpSetupView setup={setup} /> : !error && <Spinner />}
        </>
      ) : (
        <p class="small">{method === 'totp' ? t('mfa.prompt') : t('mfa.recoveryPrompt')}</p>
      )}
      <label class="field">
        <span>{method === 'totp' ? t('mfa.code') : t('mfa.recoveryCode')}</span>
        <input
          name="code"
          autoFocus
          autocomplete="one-time-code"
          inputMode={method === 'totp' ? 'numeric' : 'text'}
          maxLength={method === 'totp' ? 7 : 11}
          value={code}
          onInput={(e) => setCode((e.target as HTMLInputElement).value)}
        />
      </label>
      {error && (
        <div class="form-error" role="alert">
          {error}
        </div>
      )}
      <button class="btn btn-primary btn-block" type="submit" disabled={busy || !code.trim()}>
        {busy ? <Spinner size={16} /> : t('mfa.verify')}
      </button>
      {canKey && (
        <button class="btn btn-block" type="button" data-testid="use-key" disabled={busy} onClick={() => void useKey()}>
          {t('mfa.key.use')}
        </button>
      )}
      {enrol && webauthnSupported() && (
        <button
          class="btn btn-block"
          type="button"
          data-testid="enrol-key-instead"
          disabled={busy}
          onClick={() => {
            setEnrolKeyView(true);
            setError('');
          }}
        >
          {t('mfa.key.enrolInstead')}
        </button>
      )}
      <div class="mfa-links">
        {canRecover && hasTotp && (
          <button
            type="button"
            class="link-btn"
            onClick={() => {
              setMethod(method === 'totp' ? 'recovery' : 'totp');
              setCode('');
              setError('');
            }}
          >
            {method === 'totp' ? t('mfa.useRecovery') : t('mfa.useApp')}
          </button>
        )}
        <button type="button" class="link-btn" onClick={onCancel}>
          {t('mfa.backToLogin')}
        </button>
      </div>
    </form>
  );
}

/** The security settings' section: status, set-up, new recovery codes, turning it off. */
export function SecondFactorSettings() {
  const [status, setStatus] = useState<SecondFactorStatusDto | null>(null);
  const [setup, setSetup] = useState<TotpSetupDto | null>(null);
  const [code, setCode] = useState('');
  const [codes, setCodes] = useState<string[] | null>(null);
  const [reauth, setReauth] = useState<'disable' | 'codes' | null>(null);
  const [secret, setSecret] = useState('');
  const [busy, setBusy] = useState(false);
  const load = () => secondFactorApi.status().then(setStatus, reportError);
  useEffect(() => void load(), []);
  useOnChange(load);
  const hasPassword = status?.password ?? true;
  const enrolled = !!status && (status.totp || status.webauthn_keys > 0);

  const begin = async () => {
    try {
      setSetup(await secondFactorApi.begin());
      setCode('');
    } catch (e) {
      reportError(e);
    }
  };
  const turnOn = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const r = await secondFactorApi.confirm(code.trim());
      setSetup(null);
      setCodes(r.recovery_codes);
      toast(t('mfa.enabled'), 'info');
      void load();
    } catch (err) {
      toast(codeError(err));
    }
    setBusy(false);
  };
  const confirmReauth = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      if (reauth === 'disable') {
        await secondFactorApi.disable(reauthFor(hasPassword, secret));
        toast(t('mfa.disabled'), 'info');
      } else {
        const r = await secondFactorApi.newCodes(reauthFor(hasPassword, secret));
        setCodes(r.recovery_codes);
      }
      setReauth(null);
      setSecret('');
      void load();
    } catch (err) {
      toast(codeError(err));
    }
    setBusy(false);
  };

  return (
    <section class="mfa-settings" aria-label={t('mfa.title')}>
      <h3>{t('mfa.title')}</h3>
      {!status && <Spinner />}
      {status && (
        <div class="mfa-status">
          <span class={status.totp ? 'status-pill ok' : 'status-pill off'}>{status.totp ? t('mfa.statusOn') : t('mfa.statusOff')}</span>{' '}
          {enrolled && <span class="muted small">{tn('mfa.recoveryLeft', status.recovery_codes_left)}</span>}
          {status.required && !status.totp && (
            <p class="small">{status.enrol_by ? t('mfa.required', { date: formatDate(status.enrol_by) }) : t('mfa.requiredNow')}</p>
          )}
        </div>
      )}
      {codes && <RecoveryCodes codes={codes} onDone={() => setCodes(null)} />}
      {status && !status.totp && !setup && (
        <button class="btn btn-primary" onClick={() => void begin()}>
          {t('mfa.setup')}
        </button>
      )}
      {setup && (
        <form class="form" onSubmit={turnOn}>
          <TotpSetupView setup={setup} />
          <label class="field">
            <span>{t('mfa.code')}</span>
            <input
              name="totp-code"
              autocomplete="one-time-code"
              inputMode="numeric"
              maxLength={7}
              value={code}
              onInput={(e) => setCode((e.target as HTMLInputElement).value)}
            />
          </label>
          <div class="modal-foot">
            <button type="button" class="btn" onClick={() => setSetup(null)}>
              {t('common.cancel')}
            </button>
            <button class="btn btn-primary" type="submit" disabled={busy || code.trim().length < 6}>
              {t('mfa.confirm')}
            </button>
          </div>
        </form>
      )}
      {enrolled && !reauth && (
        <div class="modal-foot mfa-actions">
          <button class="btn" onClick={() => setReauth('codes')}>
            {t('mfa.newCodes')}
          </button>
          {status?.totp && (
            <button class="btn btn-danger" onClick={() => setReauth('disable')}>
              {t('mfa.disable')}
            </button>
          )}
        </div>
      )}
      {reauth && (
        <form class="form" onSubmit={confirmReauth}>
          <ReauthField name="reauth" value={secret} onInput={setSecret} password={hasPassword} />
          <div class="modal-foot">
            <button type="button" class="btn" onClick={() => setReauth(null)}>
              {t('common.cancel')}
            </button>
            <button class={reauth === 'disable' ? 'btn btn-danger' : 'btn btn-primary'} type="submit" disabled={busy || (hasPassword && !secret)}>
              {reauth === 'disable' ? t('mfa.disable') : t('mfa.newCodes')}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

/** The security settings' list of security keys and passkeys: add, rename, remove. */
export function SecurityKeys() {
  const [list, setList] = useState<WebAuthnKeyList | null>(null);
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<WebAuthnKeyDto | null>(null);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [secret, setSecret] = useState('');
  const [busy, setBusy] = useState(false);
  const [hasPassword, setHasPassword] = useState(true);
  const [codes, setCodes] = useState<string[] | null>(null);
  const load = () => secondFactorApi.keys().then(setList, reportError);
  useEffect(() => {
    void load();
    secondFactorApi.status().then((s) => setHasPassword(s.password), reportError);
  }, []);
  const reset = () => {
    setAdding(false);
    setRemoving(null);
    setRenaming(null);
    setName('');
    setSecret('');
  };

  const add = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const reg = await secondFactorApi.beginKey(reauthFor(hasPassword, secret));
      const credential = await createCredentialOrRefused(reg.options);
      if (!credential) {
        toast(t('mfa.key.cancelled'));
        setBusy(false);
        return;
      }
      const added = await secondFactorApi.finishKey(reg.id, name.trim(), credential);
      toast(t('mfa.key.added', { name: name.trim() }), 'info');
      // The account's first second factor: its recovery codes, shown once.
      if (added.recovery_codes.length > 0) setCodes(added.recovery_codes);
      reset();
      void load();
      announceChange();
    } catch (err) {
      toast(codeError(err));
    }
    setBusy(false);
  };
  const rename = async (e: Event) => {
    e.preventDefault();
    if (!renaming) return;
    setBusy(true);
    try {
      await secondFactorApi.renameKey(renaming, name.trim());
      reset();
      void load();
    } catch (err) {
      reportError(err);
    }
    setBusy(false);
  };
  const remove = async (e: Event) => {
    e.preventDefault();
    if (!removing) return;
    setBusy(true);
    try {
      await secondFactorApi.removeKey(removing.id, reauthFor(hasPassword, secret));
      toast(t('mfa.key.removed', { name: removing.name }), 'info');
      reset();
      void load();
      announceChange();
    } catch (err) {
      toast(codeError(err));
    }
    setBusy(false);
  };

  const reauthField = <ReauthField name="key-reauth" value={secret} onInput={setSecret} password={hasPassword} />;
  const nameField = <KeyNameField value={name} onInput={setName} />;
  return (
    <section class="mfa-keys" aria-label={t('mfa.key.title')}>
      <h3>{t('mfa.key.title')}</h3>
      <p class="muted small">{t('mfa.key.note')}</p>
      {codes && <RecoveryCodes codes={codes} onDone={() => setCodes(null)} />}
      {!list && <Spinner />}
      {list && list.keys.length === 0 && <p class="muted small">{t('mfa.key.none')}</p>}
      {list && list.keys.length > 0 && (
        <ul class="mfa-key-list" data-testid="security-keys">
          {list.keys.map((k) => (
            <li key={k.id}>
              {renaming === k.id ? (
                <form class="form inline-form" onSubmit={rename}>
                  {nameField}
                  <button type="button" class="btn" onClick={reset}>
                    {t('common.cancel')}
                  </button>
                  <button class="btn btn-primary" type="submit" disabled={busy || !name.trim()}>
                    {t('common.save')}
                  </button>
                </form>
              ) : (
                <>
                  <strong>{k.name}</strong>{' '}
                  <span class="muted small">
                    {t('mfa.key.added_', { date: formatDate(k.created_at) })}
                    {k.last_used_at ? ' · ' + t('mfa.key.lastUsed', { date: formatDate(k.last_used_at) }) : ''}
                  </span>
                  <span class="row-actions">
                    <button
                      class="btn btn-sm"
                      onClick={() => {
                        reset();
                        setRenaming(k.id);
                        setName(k.name);
                      }}
                    >
                      {t('mfa.key.rename')}
                    </button>
                    <button
                      class="btn btn-sm btn-danger"
                      onClick={() => {
                        reset();
                        setRemoving(k);
                      }}
                    >
                      {t('mfa.key.remove')}
                    </button>
                  </span>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
      {list && !adding && !removing && list.keys.length < list.max_keys && (
        <button
          class="btn"
          disabled={!webauthnSupported()}
          onClick={() => {
            reset();
            setAdding(true);
          }}
        >
          {t('mfa.key.add')}
        </button>
      )}
      {list && !webauthnSupported() && <p class="muted small">{t('mfa.key.unsupported')}</p>}
      {adding && (
        <form class="form" onSubmit={add}>
          {nameField}
          {reauthField}
          <div class="modal-foot">
            <button type="button" class="btn" onClick={reset}>
              {t('common.cancel')}
            </button>
            <button class="btn btn-primary" type="submit" disabled={busy || !name.trim() || (hasPassword && !secret)}>
              {busy ? <Spinner size={16} /> : t('mfa.key.add')}
            </button>
          </div>
        </form>
      )}
      {removing && (
        <form class="form" onSubmit={remove}>
          <p class="small">{t('mfa.key.removeConfirm', { name: removing.name })}</p>
          {reauthField}
          <div class="modal-foot">
            <button type="button" class="btn" onClick={reset}>
              {t('common.cancel')}
            </button>
            <button class="btn btn-danger" type="submit" disabled={busy || (hasPassword && !secret)}>
              {t('mfa.key.remove')}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

/** The administrators' tab: the site policy and who has enrolled. */
export function SecondFactorAdmin() {
  const [data, setData] = useState<SecondFactorOverview | null>(null);
  const [require, setRequire] = useState('off');
  const [grace, setGrace] = useState(7);
  const [busy, setBusy] = useState(false);
  const show = (d: SecondFactorOverview) => {
    setData(d);
    setRequire(d.policy.require);
    setGrace(d.policy.grace_days);
  };
  const load = () => secondFactorApi.overview().then(show, reportError);
  useEffect(() => void load(), []);
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      show(await secondFactorApi.setPolicy(require, grace));
      toast(t('common.saved'), 'info');
    } catch (err) {
      reportError(err);
    }
    setBusy(false);
  };
  const reset = (e: EnrolledDto) =>
    confirm({
      kind: 'confirm',
      title: t('mfa.admin.resetTitle', { name: displayName(e.user) }),
      body: t('mfa.admin.resetBody'),
      action: t('mfa.admin.reset'),
      danger: true,
      onConfirm: () =>
        void secondFactorApi.reset(e.user.id).then(() => {
          toast(t('mfa.admin.resetDone', { name: displayName(e.user) }), 'info');
          void load();
        }, reportError),
    });
  if (!data) return <Spinner />;
  return (
    <div class="admin-section mfa-admin">
      <p class="muted small">{t('mfa.admin.note')}</p>
      <form class="form mfa-policy" onSubmit={save}>
        <label class="field">
          <span>{t('mfa.admin.require')}</span>
          <select name="require" value={require} onChange={(e) => setRequire((e.target as HTMLSelectElement).value)}>
            <option value="off">{t('mfa.admin.off')}</option>
            <option value="admins">{t('mfa.admin.admins')}</option>
            <option value="everyone">{t('mfa.admin.everyone')}</option>
          </select>
        </label>
        <label class="field">
          <span>{t('mfa.admin.grace')}</span>
          <input
            name="grace"
            type="number"
            min={0}
            max={365}
            value={grace}
            onInput={(e) => setGrace(Number((e.target as HTMLInputElement).value))}
          />
        </label>
        <p class="muted small">{t('mfa.admin.since', { date: formatDate(data.policy.since) })}</p>
        <div class="modal-foot">
          <button class="btn btn-primary" type="submit" disabled={busy}>
            {t('common.save')}
          </button>
        </div>
      </form>
      <h3>{t('mfa.admin.enrolled')}</h3>
      {data.enrolled.length === 0 ? (
        <p class="muted">{t('mfa.admin.none')}</p>
      ) : (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                <th>{t('admin.username')}</th>
                <th>{t('mfa.admin.since_')}</th>
                <th class="hide-sm">{t('mfa.admin.codesLeft')}</th>
                <th class="hide-sm">{t('mfa.admin.keys')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {data.enrolled.map((e) => (
                <tr key={e.user.id}>
                  <td>
                    {displayName(e.user)} <span class="muted small">@{e.user.username}</span>
                  </td>
                  <td>{e.totp_since ? formatDate(e.totp_since) : '—'}</td>
                  <td class="hide-sm">{e.recovery_codes_left}</td>
                  <td class="hide-sm">{e.webauthn_keys}</td>
                  <td class="row-actions">
                    <button class="btn btn-sm" onClick={() => reset(e)}>
                      {t('mfa.admin.reset')}
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
