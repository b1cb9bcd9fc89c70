import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api } from '../lib/api';
import {
  addUsers,
  createChannel,
  errorText,
  joinChannel,
  leaveChannel,
  navigate,
  notificationsSupported,
  openDm,
  reportError,
  requestNotifications,
  setChannel,
  setPrefs,
  setStatus,
  store,
  toast,
} from '../lib/client';
import type { Modal as ModalState, SettingsTab } from '../lib/store';
import type { Channel, User } from '../lib/types';
import { AccessTokens, AppPasswords, Sessions } from './Credentials';
import { channelLabel, cls, displayName, formatDate, matchScore } from '../lib/util';
import { isUnread } from '../lib/unread';
import { t, tn } from '../i18n';
import { Modal, PresenceDot, Spinner, UserAvatar, useStore } from './common';
import { SecondFactorSettings, SecurityKeys } from './SecondFactor';
import { Check, Hash, Lock, Search } from './icons';
import { ChannelIcon } from './Sidebar';
import { GuestBadge } from './admin/Guests';

const close = () => store.set({ modal: null });

// ---------------------------------------------------------------------------------------------
// Quick switcher (Ctrl/Cmd+K)

type SwitchItem = { kind: 'channel'; c: Channel; label: string; join?: boolean } | { kind: 'user'; u: User; label: string };

/** What the server finds for the switcher's text beyond what this client has loaded: public
 *  channels the user has not joined, and people not seen yet. */
interface Found {
  q: string;
  channels: Channel[];
  users: User[];
}

function Switcher() {
  const channels = useStore((s) => s.channels);
  const users = useStore((s) => s.users);
  const me = useStore((s) => s.me!);
  const [q, setQ] = useState('');
  const [index, setIndex] = useState(0);
  const [found, setFound] = useState<Found | null>(null);
  const listRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const text = q.trim();
    if (!text) return;
    let live = true;
    const h = setTimeout(() => {
      Promise.all([api.searchChannels({ q: text, limit: 8 }), api.users({ q: text, limit: 8 })]).then(
        ([chs, us]) => {
          if (live) setFound({ q: text, channels: chs.filter((x) => !x.member).map((x) => x.channel), users: us });
        },
        () => {
          /* the switcher still offers what is loaded */
        },
      );
    }, 150);
    return () => {
      live = false;
      clearTimeout(h);
    };
  }, [q]);

  const items = useMemo((): SwitchItem[] => {
    const s = { users, me };
    const chans = Object.values(channels).map((c): SwitchItem => ({ kind: 'channel', c, label: channelLabel(c, s) }));
    const extra = found && found.q === q.trim() ? found : null;
    for (const c of extra?.channels ?? []) {
      if (!channels[c.id]) chans.push({ kind: 'channel', c, label: channelLabel(c, s), join: true });
    }
    const known = { ...users };
    for (const u of extra?.users ?? []) if (!known[u.id]) known[u.id] = u;
    const dmWith = new Set(
      Object.values(channels)
        .filter((c) => c.kind === 'dm')
        .flatMap((c) => c.dm_user_ids ?? []),
    );
    const people = Object.values(known)
      .filter((u) => u.active && u.id !== me.id && !dmWith.has(u.id))
      .map((u): SwitchItem => ({ kind: 'user', u, label: displayName(u) }));
    const all = [...chans, ...people];
    if (!q.trim()) {
      return chans
        .sort((a, b) => Number(isUnread((b as { c: Channel }).c)) - Number(isUnread((a as { c: Channel }).c)) || a.label.localeCompare(b.label))
        .slice(0, 12);
    }
    return all
      .map((it) => ({
        it,
        s: matchScore(q, it.label, it.kind === 'user' ? it.u.username : it.c.name, it.kind === 'channel' ? it.c.topic : null),
      }))
      .filter((x) => x.s >= 0)
      .sort((a, b) => a.s - b.s || a.it.label.localeCompare(b.it.label))
      .slice(0, 12)
      .map((x) => x.it);
  }, [q, channels, users, me, found]);

  useEffect(() => setIndex(0), [q]);
  useEffect(() => {
    listRef.current?.querySelector('.active')?.scrollIntoView({ block: 'nearest' });
  }, [index]);

  const choose = (it: SwitchItem | undefined) => {
    if (!it) return;
    close();
    if (it.kind === 'channel' && it.join) void joinChannel(it.c.id).catch(reportError);
    else if (it.kind === 'channel') navigate({ name: 'channel', id: it.c.id });
    else void openDm([it.u.id]).catch(reportError);
  };

  return (
    <Modal onClose={close} class="switcher" label={t('switcher.title')}>
      <div class="switcher-input">
        <Search size={18} />
        <input
          autoFocus
          placeholder={t('switcher.placeholder')}
          value={q}
          onInput={(e) => setQ((e.target as HTMLInputElement).value)}
          onKeyDown={(e) => {
            if (e.key === 'ArrowDown') {
              e.preventDefault();
              setIndex((i) => Math.min(items.length - 1, i + 1));
            } else if (e.key === 'ArrowUp') {
              e.preventDefault();
              setIndex((i) => Math.max(0, i - 1));
            } else if (e.key === 'Enter' && !e.isComposing && e.keyCode !== 229) {
              e.preventDefault();
              choose(items[index]);
            }
          }}
          aria-label={t('switcher.placeholder')}
        />
      </div>
      <div class="switcher-list" ref={listRef} role="listbox" aria-label={t('switcher.title')}>
        {items.length === 0 && <div class="switcher-empty muted">{t('switcher.none')}</div>}
        {items.map((it, i) => (
          <button
            key={it.kind + (it.kind === 'channel' ? it.c.id : it.u.id)}
            class={cls('switcher-item', i === index && 'active')}
            role="option"
            aria-selected={i === index}
            onMouseEnter={() => setIndex(i)}
            onClick={() => choose(it)}
          >
            <span class="side-icon">{it.kind === 'channel' ? <ChannelIcon c={it.c} /> : <UserAvatar userId={it.u.id} size={20} presence />}</span>
            <span class={cls('switcher-label', it.kind === 'channel' && isUnread(it.c) && 'unread')}>{it.label}</span>
            {it.kind === 'user' && <span class="muted small">@{it.u.username}</span>}
            {it.kind === 'channel' && it.join && <span class="badge-join small">{t('browse.join')}</span>}
            {it.kind === 'channel' && it.c.topic && <span class="muted small switcher-topic">{it.c.topic}</span>}
          </button>
        ))}
      </div>
      <div class="switcher-foot muted small">{t('switcher.hint')}</div>
    </Modal>
  );
}

// ---------------------------------------------------------------------------------------------
// Browse public channels

function Browse() {
  const mine = useStore((s) => s.channels);
  const [q, setQ] = useState('');
  const [list, setList] = useState<Channel[] | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const id = setTimeout(() => {
      api.browse({ q: q.trim() || undefined, limit: 100 }).then(
        (l) => live && setList(l),
        (e) => live && (reportError(e), setList([])),
      );
    }, 150);
    return () => {
      live = false;
      clearTimeout(id);
    };
  }, [q]);
  return (
    <Modal title={t('browse.title')} onClose={close} wide>
      <div class="modal-body">
        <div class="search-field">
          <Search size={16} />
          <input autoFocus placeholder={t('browse.search')} value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        </div>
        <div class="browse-list">
          {!list && (
            <div class="list-loading">
              <Spinner />
            </div>
          )}
          {list && list.length === 0 && <p class="muted center">{t('browse.none')}</p>}
          {list?.map((c) => {
            const joined = !!mine[c.id];
            return (
              <div key={c.id} class="browse-row">
                <div class="browse-main">
                  <div class="browse-name">
                    <Hash size={15} /> {c.name}
                  </div>
                  <div class="muted small">
                    {tn('members.count', c.n_members)}
                    {c.topic ? ` · ${c.topic}` : ''}
                  </div>
                </div>
                {joined ? (
                  <button
                    class="btn btn-sm"
                    onClick={() => {
                      close();
                      navigate({ name: 'channel', id: c.id });
                    }}
                  >
                    {t('browse.open')}
                  </button>
                ) : (
                  <button
                    class="btn btn-sm btn-primary"
                    disabled={busy === c.id}
                    onClick={() => {
                      setBusy(c.id);
                      joinChannel(c.id).then(close, (e) => {
                        setBusy(null);
                        reportError(e);
                      });
                    }}
                  >
                    {t('browse.join')}
                  </button>
                )}
              </div>
            );
          })}
        </div>
        <div class="modal-foot">
          <button class="btn" onClick={() => store.set({ modal: { kind: 'create' } })}>
            {t('create.title')}
          </button>
        </div>
      </div>
    </Modal>
  );
}

// ---------------------------------------------------------------------------------------------
// Create a channel

function CreateChannel() {
  const [name, setName] = useState('');
  const [topic, setTopic] = useState('');
  const [priv, setPriv] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!name.trim()) return setError(t('create.nameRequired'));
    setBusy(true);
    setError('');
    try {
      await createChannel(name.trim(), priv, topic.trim());
      close();
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <Modal title={t('create.title')} onClose={close}>
      <form class="modal-body form" onSubmit={submit}>
        <label class="field">
          <span>{t('create.name')}</span>
          <div class="input-prefix">
            {priv ? <Lock size={15} /> : <Hash size={15} />}
            <input autoFocus maxLength={64} value={name} placeholder={t('create.namePlaceholder')} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          </div>
        </label>
        <label class="field">
          <span>
            {t('create.topic')} <span class="muted">({t('common.optional')})</span>
          </span>
          <input maxLength={250} value={topic} onInput={(e) => setTopic((e.target as HTMLInputElement).value)} />
        </label>
        <label class="toggle-row">
          <input type="checkbox" checked={priv} onChange={(e) => setPriv((e.target as HTMLInputElement).checked)} />
          <span>
            <strong>{t('create.private')}</strong>
            <span class="muted small block">{t('create.privateHint')}</span>
          </span>
        </label>
        {error && <div class="form-error">{error}</div>}
        <div class="modal-foot">
          <button type="button" class="btn" onClick={close}>
            {t('common.cancel')}
          </button>
          <button type="submit" class="btn btn-primary" disabled={busy}>
            {t('create.submit')}
          </button>
        </div>
      </form>
    </Modal>
  );
}

// ---------------------------------------------------------------------------------------------
// New direct message / group

function useDirectory(q: string): User[] | null {
  const [list, setList] = useState<User[] | null>(null);
  useEffect(() => {
    let live = true;
    const id = setTimeout(() => {
      api.users({ q: q.trim() || undefined, limit: 100 }).then(
        (l) => {
          if (!live) return;
          addUsers(l);
          setList(l);
        },
        (e) => live && (reportError(e), setList([])),
      );
    }, 120);
    return () => {
      live = false;
      clearTimeout(id);
    };
  }, [q]);
  return list;
}

function NewDm() {
  const me = useStore((s) => s.me!);
  const [q, setQ] = useState('');
  const [picked, setPicked] = useState<User[]>([]);
  const [busy, setBusy] = useState(false);
  const list = useDirectory(q);
  const toggle = (u: User) =>
    setPicked((p) => (p.some((x) => x.id === u.id) ? p.filter((x) => x.id !== u.id) : p.length >= 7 ? p : [...p, u]));
  const go = async () => {
    if (picked.length === 0) return;
    setBusy(true);
    try {
      await openDm(picked.map((u) => u.id));
      close();
    } catch (e) {
      reportError(e);
      setBusy(false);
    }
  };
  return (
    <Modal title={t('dm.new')} onClose={close}>
      <div class="modal-body">
        <div class="chips-input">
          {picked.map((u) => (
            <button key={u.id} class="chip" onClick={() => toggle(u)}>
              {displayName(u)} ×
            </button>
          ))}
          <input
            autoFocus
            placeholder={picked.length ? '' : t('dm.search')}
            value={q}
            onInput={(e) => setQ((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => {
              if (e.key === 'Backspace' && !q && picked.length) setPicked(picked.slice(0, -1));
              if (e.key === 'Enter' && !e.isComposing && e.keyCode !== 229) void go();
            }}
          />
        </div>
        <div class="user-list">
          {!list && (
            <div class="list-loading">
              <Spinner />
            </div>
          )}
          {list
            ?.filter((u) => u.id !== me.id && u.active)
            .map((u) => {
              const on = picked.some((x) => x.id === u.id);
              return (
                <button key={u.id} class={cls('user-row', on && 'on')} onClick={() => toggle(u)} data-username={u.username}>
                  <UserAvatar userId={u.id} size={32} presence />
                  <span class="user-row-main">
                    <span class="user-row-name">{displayName(u)}</span>
                    <span class="muted small">@{u.username}</span>
                  </span>
                  {on && <Check size={16} />}
                </button>
              );
            })}
        </div>
        <div class="modal-foot">
          <span class="muted small">{t('dm.limit')}</span>
          <button class="btn btn-primary" disabled={picked.length === 0 || busy} onClick={() => void go()}>
            {picked.length > 1 ? t('dm.startGroup') : t('dm.start')}
          </button>
        </div>
      </div>
    </Modal>
  );
}

// ---------------------------------------------------------------------------------------------
// People directory

function People() {
  const [q, setQ] = useState('');
  const list = useDirectory(q);
  return (
    <Modal title={t('people.title')} onClose={close} wide>
      <div class="modal-body">
        <div class="search-field">
          <Search size={16} />
          <input autoFocus placeholder={t('people.search')} value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        </div>
        <div class="people-grid">
          {!list && (
            <div class="list-loading">
              <Spinner />
            </div>
          )}
          {list?.length === 0 && <p class="muted center">{t('people.none')}</p>}
          {list?.map((u) => (
            <button key={u.id} class="person-card" onClick={() => store.set({ modal: { kind: 'profile', userId: u.id } })}>
              <UserAvatar userId={u.id} size={44} presence />
              <span class="person-name">{displayName(u)}</span>
              <span class="muted small">@{u.username}</span>
              {u.is_admin && <span class="tag">{t('user.admin')}</span>}
            </button>
          ))}
        </div>
      </div>
    </Modal>
  );
}

function Profile({ userId }: { userId: string }) {
  const u = useStore((s) => s.users[userId]);
  const me = useStore((s) => s.me!);
  const p = useStore((s) => s.presence[userId]);
  if (!u) return null;
  return (
    <Modal onClose={close} class="profile-modal" label={displayName(u)}>
      <div class="profile-cover" />
      <div class="profile-body">
        <UserAvatar userId={u.id} size={72} />
        <h2>{displayName(u)}</h2>
        <div class="muted">@{u.username}</div>
        <div class="profile-presence">
          <PresenceDot userId={u.id} /> {p?.dnd ? t('presence.dnd') : t(`presence.${p?.presence ?? 'offline'}`)}
          {p?.status_text ? ` · ${p.status_text}` : ''}
        </div>
        {u.email && <div class="muted small">{u.email}</div>}
        <div class="profile-tags">
          {u.is_admin && <span class="tag">{t('user.admin')}</span>}
          {u.is_bot && <span class="tag">{t('user.bot')}</span>}
          <GuestBadge user={u} />
          {!u.active && <span class="tag tag-danger">{t('user.inactive')}</span>}
        </div>
        <div class="profile-actions">
          {u.id === me.id ? (
            <button class="btn" onClick={() => store.set({ modal: { kind: 'settings' } })}>
              {t('settings.editProfile')}
            </button>
          ) : (
            <button
              class="btn btn-primary"
              disabled={!u.active}
              onClick={() => {
                close();
                void openDm([u.id]).catch(reportError);
              }}
            >
              {t('members.message')}
            </button>
          )}
        </div>
      </div>
    </Modal>
  );
}

// ---------------------------------------------------------------------------------------------
// Channel details

function ChannelInfo() {
  const route = useStore((s) => s.route);
  const c = useStore((s) => (route.name === 'channel' ? s.channels[route.id] : undefined));
  const me = useStore((s) => s.me!);
  const users = useStore((s) => s.users);
  const [topic, setTopic] = useState(c?.topic ?? '');
  const [purpose, setPurpose] = useState(c?.purpose ?? '');
  const [name, setName] = useState(c?.name ?? '');
  const [busy, setBusy] = useState(false);
  if (!c) return null;
  const direct = c.kind === 'dm' || c.kind === 'group_dm';
  const canEdit = me.is_admin || c.role === 'owner' || c.role === 'admin';
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const out = await api.updateChannel(c.id, {
        name: direct || name === c.name ? undefined : name.trim(),
        topic: topic === c.topic ? undefined : topic,
        purpose: purpose === c.purpose ? undefined : purpose,
      });
      setChannel(out);
      toast(t('common.saved'), 'info');
      close();
    } catch (err) {
      reportError(err);
      setBusy(false);
    }
  };
  const archive = async (archived: boolean) => {
    try {
      setChannel(await api.updateChannel(c.id, { archived }));
      close();
    } catch (err) {
      reportError(err);
    }
  };
  return (
    <Modal title={channelLabel(c, { users, me })} onClose={close}>
      <form class="modal-body form" onSubmit={save}>
        <div class="info-kind muted small">
          {c.kind === 'public' ? t('channel.public') : c.kind === 'private' ? t('channel.private') : t('channel.direct')} ·{' '}
          {tn('members.count', c.n_members)} · {t('channel.created', { date: formatDate(c.created_at) })}
        </div>
        {!direct && (
          <label class="field">
            <span>{t('create.name')}</span>
            <input value={name} maxLength={64} disabled={!canEdit} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          </label>
        )}
        <label class="field">
          <span>{t('create.topic')}</span>
          <input value={topic} maxLength={250} onInput={(e) => setTopic((e.target as HTMLInputElement).value)} />
        </label>
        {!direct && (
          <label class="field">
            <span>{t('channel.purpose')}</span>
            <textarea rows={2} value={purpose} maxLength={250} onInput={(e) => setPurpose((e.target as HTMLTextAreaElement).value)} />
          </label>
        )}
        <div class="modal-foot split">
          <div class="danger-zone">
            {!direct && (
              <button
                type="button"
                class="btn btn-danger-ghost"
                onClick={() =>
                  store.set({
                    modal: {
                      kind: 'confirm',
                      title: t('channel.leaveTitle', { name: c.name ?? '' }),
                      body: c.kind === 'private' ? t('channel.leavePrivate') : t('channel.leaveBody'),
                      action: t('channel.leave'),
                      danger: true,
                      onConfirm: () => void leaveChannel(c.id).catch(reportError),
                    },
                  })
                }
              >
                {t('channel.leave')}
              </button>
            )}
            {!direct && canEdit && (
              <button type="button" class="btn btn-danger-ghost" onClick={() => void archive(!c.archived)}>
                {c.archived ? t('channel.unarchive') : t('channel.archive')}
              </button>
            )}
          </div>
          <button type="submit" class="btn btn-primary" disabled={busy}>
            {t('common.save')}
          </button>
        </div>
      </form>
    </Modal>
  );
}

// ---------------------------------------------------------------------------------------------
// Settings

function Settings({ tab: initial }: { tab?: SettingsTab }) {
  const me = useStore((s) => s.me!);
  const prefs = useStore((s) => s.prefs);
  const presence = useStore((s) => s.presence[me.id]);
  const [tab, setTab] = useState(initial ?? 'profile');
  return (
    <Modal title={t('sidebar.settings')} onClose={close} wide>
      <div class="settings">
        <div class="tabs" role="tablist">
          {(['profile', 'prefs', 'security', 'sessions', 'tokens', 'apps'] as const).map((k) => (
            <button key={k} role="tab" aria-selected={tab === k} class={cls('tab', tab === k && 'on')} onClick={() => setTab(k)}>
              {t(`settings.tab.${k}`)}
            </button>
          ))}
        </div>
        <div class="modal-body">
          {tab === 'profile' && <ProfileSettings me={me} statusText={presence?.status_text ?? ''} dnd={presence?.dnd ?? false} />}
          {tab === 'prefs' && <Prefs prefs={prefs} />}
          {tab === 'security' && <Security me={me} />}
          {tab === 'sessions' && <Sessions />}
          {tab === 'tokens' && <AccessTokens />}
          {tab === 'apps' && <AppPasswords />}
        </div>
      </div>
    </Modal>
  );
}

function ProfileSettings({ me, statusText, dnd }: { me: User; statusText: string; dnd: boolean }) {
  const [name, setName] = useState(me.display_name);
  const [email, setEmail] = useState(me.email ?? '');
  const [status, setStatusText] = useState(statusText);
  const [busy, setBusy] = useState(false);
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const u = await api.updateUser(me.id, {
        display_name: name !== me.display_name ? name : undefined,
        email: email !== (me.email ?? '') ? email : undefined,
      });
      store.set({ me: u });
      addUsers([u]);
      if (status !== statusText) setStatus(status, dnd);
      toast(t('common.saved'), 'info');
    } catch (err) {
      reportError(err);
    }
    setBusy(false);
  };
  return (
    <form class="form" onSubmit={save}>
      <div class="profile-row">
        <UserAvatar userId={me.id} size={56} />
        <div>
          <strong>{displayName(me)}</strong>
          <div class="muted small">@{me.username}</div>
        </div>
      </div>
      <label class="field">
        <span>{t('settings.displayName')}</span>
        <input value={name} maxLength={64} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
      </label>
      <label class="field">
        <span>{t('settings.email')}</span>
        <input type="email" value={email} onInput={(e) => setEmail((e.target as HTMLInputElement).value)} />
      </label>
      <label class="field">
        <span>{t('settings.status')}</span>
        <input value={status} maxLength={100} placeholder={t('settings.statusPlaceholder')} onInput={(e) => setStatusText((e.target as HTMLInputElement).value)} />
      </label>
      <label class="toggle-row">
        <input type="checkbox" checked={dnd} onChange={(e) => setStatus(status, (e.target as HTMLInputElement).checked)} />
        <span>
          <strong>{t('settings.dnd')}</strong>
          <span class="muted small block">{t('settings.dndHint')}</span>
        </span>
      </label>
      <div class="modal-foot">
        <button class="btn btn-primary" type="submit" disabled={busy}>
          {t('common.save')}
        </button>
      </div>
    </form>
  );
}

function Prefs({ prefs }: { prefs: ModalPrefs }) {
  const [perm, setPerm] = useState(notificationsSupported() ? Notification.permission : 'unsupported');
  return (
    <div class="form">
      <label class="field">
        <span>{t('settings.language')}</span>
        <select value={prefs.lang} onChange={(e) => setPrefs({ lang: (e.target as HTMLSelectElement).value as ModalPrefs['lang'] })} name="language">
          <option value="auto">{t('settings.langAuto')}</option>
          <option value="en">English</option>
          <option value="zh-CN">简体中文</option>
        </select>
      </label>
      <div class="field">
        <span>{t('settings.theme')}</span>
        <div class="segmented" role="radiogroup" aria-label={t('settings.theme')}>
          {(['system', 'light', 'dark'] as const).map((th) => (
            <button key={th} role="radio" aria-checked={prefs.theme === th} class={cls('seg', prefs.theme === th && 'on')} onClick={() => setPrefs({ theme: th })}>
              {t(`settings.theme.${th}`)}
            </button>
          ))}
        </div>
      </div>
      <div class="field">
        <span>{t('settings.notifications')}</span>
        {perm === 'unsupported' ? (
          <p class="muted small">{t('settings.notifyUnsupported')}</p>
        ) : perm === 'granted' ? (
          <label class="toggle-row">
            <input type="checkbox" checked={prefs.notify} onChange={(e) => setPrefs({ notify: (e.target as HTMLInputElement).checked })} />
            <span>{t('settings.notifyOn')}</span>
          </label>
        ) : perm === 'denied' ? (
          <p class="muted small">{t('settings.notifyDenied')}</p>
        ) : (
          <button class="btn" onClick={() => void requestNotifications().then((p) => setPerm(p))}>
            {t('settings.notifyEnable')}
          </button>
        )}
      </div>
    </div>
  );
}

type ModalPrefs = ReturnType<typeof store.get>['prefs'];

function Security({ me }: { me: User }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [busy, setBusy] = useState(false);
  const change = async (e: Event) => {
    e.preventDefault();
    if (next.length < 8) return toast(t('settings.passwordShort'));
    setBusy(true);
    try {
      await api.updateUser(me.id, { password: next, current_password: current });
      setCurrent('');
      setNext('');
      toast(t('settings.passwordChanged'), 'info');
    } catch (err) {
      reportError(err);
    }
    setBusy(false);
  };
  return (
    <div>
      <form class="form" onSubmit={change}>
        <h3>{t('settings.changePassword')}</h3>
        <label class="field">
          <span>{t('settings.currentPassword')}</span>
          <input type="password" autocomplete="current-password" value={current} onInput={(e) => setCurrent((e.target as HTMLInputElement).value)} />
        </label>
        <label class="field">
          <span>{t('settings.newPassword')}</span>
          <input type="password" autocomplete="new-password" value={next} onInput={(e) => setNext((e.target as HTMLInputElement).value)} />
        </label>
        <div class="modal-foot">
          <button class="btn btn-primary" type="submit" disabled={busy || !current || !next}>
            {t('settings.changePassword')}
          </button>
        </div>
      </form>
      <SecondFactorSettings />
      <SecurityKeys />
    </div>
  );
}

// ---------------------------------------------------------------------------------------------
// Confirmation

function Confirm({ m }: { m: Extract<ModalState, { kind: 'confirm' }> }) {
  return (
    <Modal title={m.title} onClose={close}>
      <div class="modal-body">
        <p>{m.body}</p>
        <div class="modal-foot">
          <button class="btn" onClick={close}>
            {t('common.cancel')}
          </button>
          <button
            class={cls('btn', m.danger ? 'btn-danger' : 'btn-primary')}
            autoFocus
            onClick={() => {
              close();
              m.onConfirm();
            }}
          >
            {m.action}
          </button>
        </div>
      </div>
    </Modal>
  );
}

export function Modals() {
  const modal = useStore((s) => s.modal);
  useStore((s) => s.prefs);
  if (!modal) return null;
  switch (modal.kind) {
    case 'switcher':
      return <Switcher />;
    case 'browse':
      return <Browse />;
    case 'create':
      return <CreateChannel />;
    case 'dm':
      return <NewDm />;
    case 'people':
      return <People />;
    case 'settings':
      return <Settings tab={modal.tab} />;
    case 'profile':
      return <Profile userId={modal.userId} />;
    case 'channelInfo':
      return <ChannelInfo />;
    case 'confirm':
      return <Confirm m={modal} />;
    case 'shortcuts':
      return <Shortcuts />;
  }
}

/** Ctrl+/ : the keyboard shortcuts. */
function Shortcuts() {
  const mod = /Mac|iPhone|iPad/.test(navigator.platform) ? '⌘' : 'Ctrl';
  const rows: [string, string][] = [
    [`${mod}+K`, t('shortcuts.switcher')],
    [`${mod}+/`, t('shortcuts.help')],
    ['Alt+↑ / Alt+↓', t('shortcuts.prevNext')],
    ['↑ / ↓', t('shortcuts.messages')],
    ['↑', t('shortcuts.editLast')],
    ['Enter', t('shortcuts.send')],
    ['Esc', t('shortcuts.close')],
  ];
  return (
    <Modal title={t('shortcuts.title')} onClose={() => store.set({ modal: null })} class="shortcuts">
      <div class="modal-body">
        <dl class="shortcut-list">
          {rows.map(([keys, what]) => (
            <div key={keys + what} class="shortcut-row">
              <dt>
                <kbd>{keys}</kbd>
              </dt>
              <dd>{what}</dd>
            </div>
          ))}
        </dl>
      </div>
    </Modal>
  );
}

export function Toasts() {
  const toasts = useStore((s) => s.toasts);
  return (
    <div class="toasts" aria-live="assertive">
      {toasts.map((x) => (
        <div key={x.id} class={cls('toast', `toast-${x.kind}`)} role={x.kind === 'error' ? 'alert' : 'status'}>
          {x.text}
        </div>
      ))}
    </div>
  );
}
