// The administration page: accounts (create, deactivate, reactivate, reset password, grant
// administration) and public channels (archive, unarchive).

import { useEffect, useState } from 'preact/hooks';
import { api } from '../lib/api';
import { addUsers, errorText, navigate, reportError, store, toast } from '../lib/client';
import type { Channel, User } from '../lib/types';
import { cls, displayName, formatDate } from '../lib/util';
import { t, tn } from '../i18n';
import { Modal, Spinner, UserAvatar, useStore } from './common';
import { ChevronLeft, Hash, Plus, Search } from './icons';
import { ConnectionBanner } from './Conversation';
import { LockoutsTab } from './admin/Lockouts';
import { DirectorySyncTab } from './admin/DirectorySync';
import { AuditTab } from './admin/Audit';
import { RolesTab } from './admin/Roles';
import { SsoTab } from './admin/Sso';
import { BackupsTab } from './admin/Backups';
import { HoldsTab, RetentionTab } from './admin/Retention';
import { IntegrationsTab } from './admin/Integrations';
import { GuestBadge, InviteGuest, UserRoles } from './admin/Guests';
import { DepartmentsAdmin } from './admin/Departments';
import { SecondFactorAdmin } from './SecondFactor';

function CreateUser({ onDone }: { onDone: () => void }) {
  const [f, setF] = useState({ username: '', display_name: '', email: '', password: '', admin: false });
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof f) => (e: Event) => {
    const el = e.target as HTMLInputElement;
    setF({ ...f, [k]: el.type === 'checkbox' ? el.checked : el.value });
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const u = await api.createUser({
        username: f.username.trim(),
        display_name: f.display_name.trim() || undefined,
        email: f.email.trim() || undefined,
        password: f.password,
        admin: f.admin,
      });
      addUsers([u]);
      toast(t('admin.created', { name: u.username }), 'info');
      onDone();
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <Modal title={t('admin.createUser')} onClose={onDone}>
      <form class="modal-body form" onSubmit={submit}>
        <label class="field">
          <span>{t('admin.username')}</span>
          <input autoFocus value={f.username} onInput={set('username')} autocomplete="off" placeholder="li.lei" />
          <small class="muted">{t('admin.usernameHint')}</small>
        </label>
        <label class="field">
          <span>{t('settings.displayName')}</span>
          <input value={f.display_name} onInput={set('display_name')} placeholder={t('admin.displayNamePlaceholder')} />
        </label>
        <label class="field">
          <span>
            {t('settings.email')} <span class="muted">({t('common.optional')})</span>
          </span>
          <input type="email" value={f.email} onInput={set('email')} />
        </label>
        <label class="field">
          <span>{t('login.password')}</span>
          <input type="password" value={f.password} onInput={set('password')} autocomplete="new-password" />
          <small class="muted">{t('admin.passwordHint')}</small>
        </label>
        <label class="toggle-row">
          <input type="checkbox" checked={f.admin} onChange={set('admin')} />
          <span>{t('admin.makeAdmin')}</span>
        </label>
        {error && <div class="form-error">{error}</div>}
        <div class="modal-foot">
          <button type="button" class="btn" onClick={onDone}>
            {t('common.cancel')}
          </button>
          <button class="btn btn-primary" type="submit" disabled={busy}>
            {t('admin.createUser')}
          </button>
        </div>
      </form>
    </Modal>
  );
}

function ResetPassword({ user, onDone }: { user: User; onDone: () => void }) {
  const [pw, setPw] = useState('');
  const [error, setError] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      await api.updateUser(user.id, { password: pw });
      toast(t('admin.passwordReset', { name: user.username }), 'info');
      onDone();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <Modal title={t('admin.resetPasswordFor', { name: displayName(user) })} onClose={onDone}>
      <form class="modal-body form" onSubmit={submit}>
        <label class="field">
          <span>{t('settings.newPassword')}</span>
          <input type="password" autoFocus value={pw} onInput={(e) => setPw((e.target as HTMLInputElement).value)} autocomplete="new-password" />
          <small class="muted">{t('admin.passwordHint')}</small>
        </label>
        {error && <div class="form-error">{error}</div>}
        <div class="modal-foot">
          <button type="button" class="btn" onClick={onDone}>
            {t('common.cancel')}
          </button>
          <button class="btn btn-primary" type="submit" disabled={pw.length < 8}>
            {t('admin.resetPassword')}
          </button>
        </div>
      </form>
    </Modal>
  );
}

function UsersTab() {
  const me = useStore((s) => s.me!);
  const [q, setQ] = useState('');
  const [list, setList] = useState<User[] | null>(null);
  const [creating, setCreating] = useState(false);
  const [resetting, setResetting] = useState<User | null>(null);
  const [inviting, setInviting] = useState(false);
  const [editingRoles, setEditingRoles] = useState<User | null>(null);
  const load = () =>
    api.users({ q: q.trim() || undefined, limit: 200, include_inactive: true }).then((l) => {
      setList(l);
      addUsers(l.filter((u) => u.active));
    }, reportError);
  useEffect(() => {
    const id = setTimeout(() => void load(), 150);
    return () => clearTimeout(id);
  }, [q]);
  const update = async (u: User, body: { active?: boolean; admin?: boolean }) => {
    try {
      const out = await api.updateUser(u.id, body);
      setList((l) => l?.map((x) => (x.id === u.id ? out : x)) ?? null);
      addUsers([out]);
    } catch (e) {
      reportError(e);
    }
  };
  return (
    <div class="admin-section">
      <div class="admin-toolbar">
        <div class="search-field">
          <Search size={16} />
          <input placeholder={t('people.search')} value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        </div>
        <button class="btn btn-primary" onClick={() => setCreating(true)}>
          <Plus size={16} /> {t('admin.createUser')}
        </button>
        <button class="btn" onClick={() => setInviting(true)}>
          <Plus size={16} /> {t('guest.invite')}
        </button>
      </div>
      {!list ? (
        <Spinner />
      ) : (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                <th>{t('admin.user')}</th>
                <th class="hide-sm">{t('settings.email')}</th>
                <th>{t('admin.role')}</th>
                <th>{t('admin.status')}</th>
                <th class="hide-sm">{t('admin.createdAt')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.map((u) => (
                <tr key={u.id} class={cls(!u.active && 'inactive')} data-username={u.username}>
                  <td>
                    <div class="cell-user">
                      <UserAvatar userId={u.id} size={28} />
                      <div>
                        <div>{displayName(u)}</div>
                        <div class="muted small">@{u.username}</div>
                      </div>
                    </div>
                  </td>
                  <td class="hide-sm">{u.email ?? '—'}</td>
                  <td>
                    {u.is_guest ? (
                      <>
                        <GuestBadge user={u} />
                        {u.guest_expires_at && <span class="muted small"> {t('guest.until', { date: formatDate(u.guest_expires_at) })}</span>}
                      </>
                    ) : u.is_admin ? (
                      <span class="tag">{t('user.admin')}</span>
                    ) : u.is_bot ? (
                      <span class="tag">{t('user.bot')}</span>
                    ) : (
                      t('admin.member')
                    )}
                  </td>
                  <td>
                    <span class={cls('status-pill', u.active ? 'ok' : 'off')}>{u.active ? t('admin.active') : t('user.inactive')}</span>
                  </td>
                  <td class="hide-sm muted small">{formatDate(u.created_at)}</td>
                  <td class="row-actions">
                    {u.id !== me.id && (
                      <>
                        <button class="btn btn-sm" onClick={() => setResetting(u)}>
                          {t('admin.resetPassword')}
                        </button>
                        <button class="btn btn-sm" onClick={() => setEditingRoles(u)}>
                          {t('roles.edit')}
                        </button>
                        <button class="btn btn-sm" onClick={() => void update(u, { admin: !u.is_admin })}>
                          {u.is_admin ? t('admin.revokeAdmin') : t('admin.grantAdmin')}
                        </button>
                        {u.active && (
                          <button
                            class="btn btn-sm"
                            data-action="end-sessions"
                            onClick={() =>
                              store.set({
                                modal: {
                                  kind: 'confirm',
                                  title: t('admin.endSessionsTitle', { name: displayName(u) }),
                                  body: t('admin.endSessionsBody'),
                                  action: t('admin.endSessions'),
                                  danger: true,
                                  onConfirm: () =>
                                    void api.endUserSessions(u.id).then(
                                      (r) => toast(t('admin.sessionsEnded', { n: r.ended }), 'info'),
                                      reportError,
                                    ),
                                },
                              })
                            }
                          >
                            {t('admin.endSessions')}
                          </button>
                        )}
                        {u.active ? (
                          <button
                            class="btn btn-sm btn-danger-ghost"
                            onClick={() =>
                              store.set({
                                modal: {
                                  kind: 'confirm',
                                  title: t('admin.deactivateTitle', { name: displayName(u) }),
                                  body: t('admin.deactivateBody'),
                                  action: t('admin.deactivate'),
                                  danger: true,
                                  onConfirm: () => void update(u, { active: false }),
                                },
                              })
                            }
                          >
                            {t('admin.deactivate')}
                          </button>
                        ) : (
                          <button class="btn btn-sm" onClick={() => void update(u, { active: true })}>
                            {t('admin.reactivate')}
                          </button>
                        )}
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {creating && (
        <CreateUser
          onDone={() => {
            setCreating(false);
            void load();
          }}
        />
      )}
      {resetting && <ResetPassword user={resetting} onDone={() => setResetting(null)} />}
      {inviting && (
        <InviteGuest
          onDone={() => {
            setInviting(false);
            void load();
          }}
        />
      )}
      {editingRoles && (
        <UserRoles
          user={editingRoles}
          onDone={() => {
            setEditingRoles(null);
            void load();
          }}
        />
      )}
    </div>
  );
}

function ChannelsTab() {
  const [list, setList] = useState<Channel[] | null>(null);
  const [q, setQ] = useState('');
  const load = () => api.browse({ q: q.trim() || undefined, include_archived: true, limit: 200 }).then(setList, reportError);
  useEffect(() => {
    const id = setTimeout(() => void load(), 150);
    return () => clearTimeout(id);
  }, [q]);
  const setArchived = async (c: Channel, archived: boolean) => {
    try {
      const out = await api.updateChannel(c.id, { archived });
      setList((l) => l?.map((x) => (x.id === c.id ? { ...x, ...out } : x)) ?? null);
    } catch (e) {
      reportError(e);
    }
  };
  return (
    <div class="admin-section">
      <div class="admin-toolbar">
        <div class="search-field">
          <Search size={16} />
          <input placeholder={t('browse.search')} value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        </div>
        <button class="btn btn-primary" onClick={() => store.set({ modal: { kind: 'create' } })}>
          <Plus size={16} /> {t('create.title')}
        </button>
      </div>
      <p class="muted small">{t('admin.channelsNote')}</p>
      {!list ? (
        <Spinner />
      ) : (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                <th>{t('create.name')}</th>
                <th>{t('members.title')}</th>
                <th class="hide-sm">{t('create.topic')}</th>
                <th>{t('admin.status')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.map((c) => (
                <tr key={c.id} class={cls(c.archived && 'inactive')}>
                  <td>
                    <a
                      href={`/c/${c.id}`}
                      class="cell-channel"
                      onClick={(e) => {
                        e.preventDefault();
                        navigate({ name: 'channel', id: c.id });
                      }}
                    >
                      <Hash size={14} /> {c.name}
                    </a>
                  </td>
                  <td>{tn('members.count', c.n_members)}</td>
                  <td class="hide-sm muted">{c.topic || '—'}</td>
                  <td>
                    <span class={cls('status-pill', c.archived ? 'off' : 'ok')}>{c.archived ? t('channel.archived') : t('admin.active')}</span>
                  </td>
                  <td class="row-actions">
                    <button class="btn btn-sm" onClick={() => void setArchived(c, !c.archived)}>
                      {c.archived ? t('channel.unarchive') : t('channel.archive')}
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

export function Admin() {
  const me = useStore((s) => s.me!);
  useStore((s) => s.prefs);
  const [tab, setTab] = useState<
    | 'users'
    | 'channels'
    | 'departments'
    | 'roles'
    | 'mfa'
    | 'lockouts'
    | 'dirsync'
    | 'audit'
    | 'sso'
    | 'backups'
    | 'retention'
    | 'holds'
    | 'integrations'
  >('users');
  if (!me.is_admin) {
    return (
      <section class="conv home">
        <div class="home-body">
          <p>{t('admin.only')}</p>
        </div>
      </section>
    );
  }
  return (
    <section class="conv admin" aria-label={t('admin.title')}>
      <header class="conv-head">
        <button class="icon-btn back-btn" onClick={() => navigate({ name: 'home' })} aria-label={t('common.back')}>
          <ChevronLeft size={20} />
        </button>
        <h1 class="conv-name">{t('admin.title')}</h1>
        <div class="tabs tabs-inline" role="tablist">
          <button role="tab" aria-selected={tab === 'users'} class={cls('tab', tab === 'users' && 'on')} onClick={() => setTab('users')}>
            {t('admin.users')}
          </button>
          <button role="tab" aria-selected={tab === 'channels'} class={cls('tab', tab === 'channels' && 'on')} onClick={() => setTab('channels')}>
            {t('sidebar.channels')}
          </button>
          <button
            role="tab"
            aria-selected={tab === 'departments'}
            class={cls('tab', tab === 'departments' && 'on')}
            onClick={() => setTab('departments')}
          >
            {t('departments.title')}
          </button>
          <button role="tab" aria-selected={tab === 'roles'} class={cls('tab', tab === 'roles' && 'on')} onClick={() => setTab('roles')}>
            {t('roles.title')}
          </button>
          <button role="tab" aria-selected={tab === 'mfa'} class={cls('tab', tab === 'mfa' && 'on')} onClick={() => setTab('mfa')}>
            {t('mfa.admin.tab')}
          </button>
          <button role="tab" aria-selected={tab === 'lockouts'} class={cls('tab', tab === 'lockouts' && 'on')} onClick={() => setTab('lockouts')}>
            {t('lockouts.tab')}
          </button>
          <button role="tab" aria-selected={tab === 'dirsync'} class={cls('tab', tab === 'dirsync' && 'on')} onClick={() => setTab('dirsync')}>
            {t('dirsync.tab')}
          </button>
          <button role="tab" aria-selected={tab === 'audit'} class={cls('tab', tab === 'audit' && 'on')} onClick={() => setTab('audit')}>
            {t('audit.tab')}
          </button>
          <button role="tab" aria-selected={tab === 'sso'} class={cls('tab', tab === 'sso' && 'on')} onClick={() => setTab('sso')}>
            {t('sso.tab')}
          </button>
          <button role="tab" aria-selected={tab === 'backups'} class={cls('tab', tab === 'backups' && 'on')} onClick={() => setTab('backups')}>
            {t('backups.tab')}
          </button>
          <button role="tab" aria-selected={tab === 'retention'} class={cls('tab', tab === 'retention' && 'on')} onClick={() => setTab('retention')}>
            {t('retention.tab')}
          </button>
          <button role="tab" aria-selected={tab === 'holds'} class={cls('tab', tab === 'holds' && 'on')} onClick={() => setTab('holds')}>
            {t('holds.tab')}
          </button>
          <button
            role="tab"
            aria-selected={tab === 'integrations'}
            class={cls('tab', tab === 'integrations' && 'on')}
            onClick={() => setTab('integrations')}
          >
            {t('integrations.tab')}
          </button>
        </div>
      </header>
      <ConnectionBanner />
      <div class="admin-body">
        {tab === 'users' && <UsersTab />}
        {tab === 'channels' && <ChannelsTab />}
        {tab === 'departments' && <DepartmentsAdmin />}
        {tab === 'roles' && <RolesTab />}
        {tab === 'mfa' && <SecondFactorAdmin />}
        {tab === 'lockouts' && <LockoutsTab />}
        {tab === 'dirsync' && <DirectorySyncTab />}
        {tab === 'audit' && <AuditTab />}
        {tab === 'sso' && <SsoTab />}
        {tab === 'backups' && <BackupsTab />}
        {tab === 'retention' && <RetentionTab />}
        {tab === 'holds' && <HoldsTab />}
        {tab === 'integrations' && <IntegrationsTab />}
      </div>
    </section>
  );
}
