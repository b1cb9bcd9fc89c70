// Guests and the roles of an account, for the administration page's users tab: the
// "Invite guest" dialog (named channels, an expiry date) and the "Roles" dialog (built-in and
// custom roles of one account). The rules (who may, what the policy requires) are the server's.

import { useEffect, useState } from 'preact/hooks';
import { api } from '../../lib/api';
import { addUsers, errorText, store, toast } from '../../lib/client';
import type { RoleDto } from '../../gen/wire';
import type { User } from '../../lib/types';
import { displayName } from '../../lib/util';
import { t } from '../../i18n';
import { Modal, Spinner, useStore } from '../common';
import { roleLabel } from './Roles';

/** The date `days` from today, as the value of an `<input type="date">`. */
function dateIn(days: number): string {
  const d = new Date(Date.now() + days * 86_400_000);
  return d.toISOString().slice(0, 10);
}

/** The guest badge shown beside a guest's name everywhere. */
export function GuestBadge({ user }: { user?: Pick<User, 'is_guest'> | null }) {
  if (!user?.is_guest) return null;
  return <span class="tag tag-guest">{t('guest.badge')}</span>;
}

export function InviteGuest({ onDone }: { onDone: () => void }) {
  const channels = useStore((s) => s.channels);
  const named = Object.values(channels ?? {}).filter((c) => c.kind === 'public' || c.kind === 'private');
  const [f, setF] = useState({ username: '', display_name: '', password: '', expires: dateIn(30) });
  const [picked, setPicked] = useState<string[]>([]);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value });
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const u = await api.inviteGuest({
        username: f.username.trim(),
        display_name: f.display_name.trim() || undefined,
        password: f.password,
        // The end of the chosen day, in UTC.
        expires_at: f.expires ? `${f.expires}T23:59:59Z` : undefined,
        channel_ids: picked,
      });
      addUsers([u]);
      toast(t('guest.invited', { name: u.username }), 'info');
      onDone();
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <Modal title={t('guest.invite')} onClose={onDone}>
      <form class="modal-body form" onSubmit={submit} aria-label={t('guest.invite')}>
        <label class="field">
          <span>{t('admin.username')}</span>
          <input autoFocus name="guest-username" value={f.username} onInput={set('username')} autocomplete="off" />
        </label>
        <label class="field">
          <span>{t('settings.displayName')}</span>
          <input value={f.display_name} onInput={set('display_name')} />
        </label>
        <label class="field">
          <span>{t('login.password')}</span>
          <input type="password" name="guest-password" value={f.password} onInput={set('password')} autocomplete="new-password" />
        </label>
        <label class="field">
          <span>{t('guest.expires')}</span>
          <input type="date" name="guest-expires" value={f.expires} min={dateIn(1)} onInput={set('expires')} />
        </label>
        <fieldset class="field">
          <legend>{t('guest.channels')}</legend>
          {named.map((c) => (
            <label class="toggle-row" key={c.id}>
              <input
                type="checkbox"
                data-channel={c.name ?? ''}
                checked={picked.includes(c.id)}
                onChange={(e) =>
                  setPicked((p) => ((e.target as HTMLInputElement).checked ? [...p, c.id] : p.filter((x) => x !== c.id)))
                }
              />
              <span>{c.name}</span>
            </label>
          ))}
        </fieldset>
        {error && <div class="form-error">{error}</div>}
        <div class="modal-foot">
          <button type="button" class="btn" onClick={onDone}>
            {t('common.cancel')}
          </button>
          <button class="btn btn-primary" type="submit" disabled={busy || picked.length === 0}>
            {t('guest.invite')}
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function UserRoles({ user, onDone }: { user: User; onDone: () => void }) {
  const [roles, setRoles] = useState<RoleDto[] | null>(null);
  const [held, setHeld] = useState<string[]>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    Promise.all([api.roles(), api.userRoles(user.id)]).then(([all, mine]) => {
      setRoles(all.roles.filter((r) => r.id !== 'guest'));
      setHeld(mine.roles);
    }, (e) => setError(errorText(e)));
  }, [user.id]);
  const save = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      const out = await api.setUserRoles(user.id, held);
      addUsers([out.user]);
      store.set({});
      toast(t('roles.saved', { name: displayName(user) }), 'info');
      onDone();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <Modal title={t('roles.of', { name: displayName(user) })} onClose={onDone}>
      <form class="modal-body form" onSubmit={save}>
        {user.is_guest ? (
          <p class="muted">{t('roles.guestFixed')}</p>
        ) : !roles ? (
          error ? null : <Spinner />
        ) : (
          roles.map((r) => (
            <label class="toggle-row" key={r.id}>
              <input
                type="checkbox"
                data-role={r.name}
                checked={held.includes(r.id)}
                onChange={(e) =>
                  setHeld((h) => ((e.target as HTMLInputElement).checked ? [...h, r.id] : h.filter((x) => x !== r.id)))
                }
              />
              <span>{roleLabel(r)}</span>
            </label>
          ))
        )}
        {error && <div class="form-error">{error}</div>}
        <div class="modal-foot">
          <button type="button" class="btn" onClick={onDone}>
            {t('common.cancel')}
          </button>
          {!user.is_guest && (
            <button class="btn btn-primary" type="submit" disabled={held.length === 0}>
              {t('common.save')}
            </button>
          )}
        </div>
      </form>
    </Modal>
  );
}
