import { useEffect, useState } from 'preact/hooks';
import { errorText, login, setPrefs, ssoError, store, takeSsoChallenge } from '../lib/client';
import { t } from '../i18n';
import { useStore, Spinner } from './common';
import { Globe } from './icons';
import { ApiError, api } from '../lib/api';
import type { SecondFactorChallengeDto, SsoProviders } from '../gen/wire';
import type { Key } from '../i18n';
import { SecondFactorStep } from './SecondFactor';

export function Logo({ size = 40 }: { size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 64 64" aria-hidden="true" class="logo">
      <defs>
        <linearGradient id="lg" x1="0" y1="0" x2="1" y2="1">
          <stop offset="0" stop-color="#7c6cff" />
          <stop offset="1" stop-color="#4338ca" />
        </linearGradient>
      </defs>
      <rect width="64" height="64" rx="16" fill="url(#lg)" />
      <path d="M18 22a6 6 0 0 1 6-6h16a6 6 0 0 1 6 6v12a6 6 0 0 1-6 6H30l-8 7v-7h-4z" fill="#fff" opacity=".95" />
      <circle cx="26" cy="28" r="2.6" fill="#4f46e5" />
      <circle cx="32" cy="28" r="2.6" fill="#4f46e5" />
      <circle cx="38" cy="28" r="2.6" fill="#4f46e5" />
    </svg>
  );
}

export function LanguageSwitch() {
  const prefs = useStore((s) => s.prefs);
  return (
    <label class="lang-switch">
      <Globe size={15} />
      <select
        aria-label={t('settings.language')}
        value={prefs.lang}
        onChange={(e) => setPrefs({ lang: (e.target as HTMLSelectElement).value as typeof prefs.lang })}
      >
        <option value="auto">{t('settings.langAuto')}</option>
        <option value="en">English</option>
        <option value="zh-CN">简体中文</option>
      </select>
    </label>
  );
}

export function Login() {
  const needsSetup = useStore((s) => s.needsSetup);
  useStore((s) => s.prefs);
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(() => {
    if (!ssoError) return '';
    const key = `error.${ssoError}` as Key;
    return t(key) === key ? t('login.ssoFailed') : t(key);
  });
  const [sso, setSso] = useState<SsoProviders | null>(null);
  const [showPassword, setShowPassword] = useState(false);
  useEffect(() => {
    api.ssoProviders().then(setSso, () => setSso({ local_passwords: true, providers: [] }));
  }, []);
  const passwordForm = !sso || sso.local_passwords || showPassword;
  const [challenge, setChallenge] = useState<SecondFactorChallengeDto | null>(takeSsoChallenge);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!name.trim() || !password) {
      setError(t('login.missing'));
      return;
    }
    setBusy(true);
    setError('');
    try {
      const ch = await login(name.trim(), password);
      if (ch) {
        setChallenge(ch);
        setPassword('');
        setBusy(false);
      }
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? t('login.failed') : errorText(err));
      setBusy(false);
    }
  };

  return (
    <div class="login-page">
      <div class="login-card">
        <div class="login-brand">
          <Logo size={48} />
          <h1>{t('login.title')}</h1>
          <p class="muted">{t('login.subtitle')}</p>
        </div>
        {needsSetup && (
          <div class="setup-hint" role="note">
            <strong>{t('setup.title')}</strong>
            <p>{t('setup.body')}</p>
            <pre>
              <code>enclave admin create-user admin --admin</code>
            </pre>
            <p class="muted small">{t('setup.after')}</p>
          </div>
        )}
        {challenge ? (
          <SecondFactorStep challenge={challenge} onCancel={() => setChallenge(null)} />
        ) : (
          <>
        {sso && sso.providers.length > 0 && (
          <div class="sso-buttons">
            {sso.providers.map((p) => (
              <a key={p.id} class="btn btn-block sso-btn" data-provider={p.id} href={`/auth/oidc/${encodeURIComponent(p.id)}/start`}>
                {t('login.with', { name: p.label })}
              </a>
            ))}
            {passwordForm && <div class="login-or muted small">{t('login.or')}</div>}
          </div>
        )}
        {!passwordForm && error && (
          <div class="form-error" role="alert">
            {error}
          </div>
        )}
        {!passwordForm && <p class="muted small">{t('login.ssoOnly')}</p>}
        {passwordForm && (
        <form onSubmit={submit} class="form" novalidate>
          <label class="field">
            <span>{t('login.username')}</span>
            <input
              name="login"
              autocomplete="username"
              autoFocus
              value={name}
              onInput={(e) => setName((e.target as HTMLInputElement).value)}
            />
          </label>
          <label class="field">
            <span>{t('login.password')}</span>
            <input
              name="password"
              type="password"
              autocomplete="current-password"
              value={password}
              onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
            />
          </label>
          {error && (
            <div class="form-error" role="alert">
              {error}
            </div>
          )}
          <button class="btn btn-primary btn-block" type="submit" disabled={busy}>
            {busy ? <Spinner size={16} /> : t('login.submit')}
          </button>
        </form>
        )}
        {sso && !sso.local_passwords && !showPassword && (
          <button class="btn btn-link btn-sm admin-password" onClick={() => setShowPassword(true)}>
            {t('login.adminPassword')}
          </button>
        )}
          </>
        )}
        <div class="login-foot">
          <LanguageSwitch />
        </div>
      </div>
    </div>
  );
}

export function Splash() {
  const conn = useStore((s) => s.conn);
  void store;
  return (
    <div class="splash">
      <Logo size={56} />
      {conn === 'offline' ? <p class="muted">{t('conn.unreachable')}</p> : <Spinner size={22} />}
    </div>
  );
}
