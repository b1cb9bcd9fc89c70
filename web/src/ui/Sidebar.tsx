import { useState } from 'preact/hooks';
import { logout, navigate, notificationsSupported, requestNotifications, store } from '../lib/client';
import type { AppState } from '../lib/store';
import type { Channel } from '../lib/types';
import { channelLabel, cls, displayName } from '../lib/util';
import { isUnread } from '../lib/unread';
import { t } from '../i18n';
import { Kbd, Menu, UserAvatar, isMac, useStore } from './common';
import { Bell, ChevronDown, Compass, Hash, Lock, LogOut, Plus, Search, Settings, Shield, Users } from './icons';
import { Logo } from './Login';
import { SearchBox } from './Search';

function sortChannels(list: Channel[], s: AppState): Channel[] {
  return list.sort((a, b) => channelLabel(a, s).localeCompare(channelLabel(b, s), undefined, { sensitivity: 'base' }));
}

function sortDms(list: Channel[], s: AppState): Channel[] {
  // Unread first, then the most recently active, then by name.
  const at = (c: Channel) => s.activity[c.id] ?? Date.parse(c.created_at);
  return list.sort(
    (a, b) =>
      Number(isUnread(b)) - Number(isUnread(a)) ||
      at(b) - at(a) ||
      channelLabel(a, s).localeCompare(channelLabel(b, s)),
  );
}

export function ChannelIcon({ c, size = 16 }: { c: Channel; size?: number }) {
  const me = useStore((s) => s.me);
  if (c.kind === 'dm') {
    const other = (c.dm_user_ids ?? []).find((id) => id !== me?.id) ?? me?.id ?? '';
    return <UserAvatar userId={other} size={size + 4} presence />;
  }
  if (c.kind === 'group_dm') {
    return <span class="group-icon">{(c.dm_user_ids?.length ?? 0) + 1}</span>;
  }
  return c.kind === 'private' ? <Lock size={size - 2} /> : <Hash size={size - 1} />;
}

function Item({ c, active }: { c: Channel; active: boolean }) {
  const s = store.get();
  const label = channelLabel(c, s);
  const unread = c.unread_count ?? 0;
  const mentions = c.mention_count ?? 0;
  const direct = c.kind === 'dm' || c.kind === 'group_dm';
  const badge = direct ? Math.max(unread, mentions) : mentions;
  return (
    <a
      href={`/c/${c.id}`}
      class={cls('side-item', active && 'active', isUnread(c) && 'unread', c.archived && 'archived')}
      data-channel-id={c.id}
      aria-current={active ? 'page' : undefined}
      onClick={(e) => {
        e.preventDefault();
        navigate({ name: 'channel', id: c.id });
      }}
    >
      <span class="side-icon">
        <ChannelIcon c={c} />
      </span>
      <span class="side-label">{label}</span>
      {badge > 0 ? (
        <span class="badge badge-mention" aria-label={t('sidebar.mentions', { n: badge })}>
          {badge}
        </span>
      ) : unread > 0 ? (
        <span class="badge badge-unread" aria-label={t('sidebar.unread', { n: unread })}>
          {unread}
        </span>
      ) : null}
    </a>
  );
}

function Section({
  title,
  onAdd,
  addLabel,
  children,
}: {
  title: string;
  onAdd?: () => void;
  addLabel?: string;
  children: preact.ComponentChildren;
}) {
  const [open, setOpen] = useState(true);
  return (
    <div class="side-section">
      <div class="side-section-head">
        <button class="side-section-toggle" onClick={() => setOpen(!open)} aria-expanded={open}>
          <ChevronDown size={14} class={cls('chev', !open && 'closed')} />
          {title}
        </button>
        {onAdd && (
          <button class="icon-btn icon-btn-sm" onClick={onAdd} aria-label={addLabel} title={addLabel}>
            <Plus size={16} />
          </button>
        )}
      </div>
      {open && <div class="side-list">{children}</div>}
    </div>
  );
}

const ASKED_KEY = 'enclave.notifyAsked';

/** Offers desktop notifications once, until enabled or dismissed. */
function NotifyPrompt() {
  const [show, setShow] = useState(() => {
    try {
      return notificationsSupported() && Notification.permission === 'default' && !localStorage.getItem(ASKED_KEY);
    } catch {
      return false;
    }
  });
  if (!show) return null;
  const done = () => {
    try {
      localStorage.setItem(ASKED_KEY, '1');
    } catch {
      /* ignore */
    }
    setShow(false);
  };
  return (
    <div class="notify-prompt" role="note">
      <Bell size={16} />
      <div>
        <div class="notify-title">{t('notify.title')}</div>
        <div class="notify-actions">
          <button class="link-btn" onClick={() => void requestNotifications().then(done)}>
            {t('notify.enable')}
          </button>
          <button class="link-btn muted" onClick={done}>
            {t('notify.later')}
          </button>
        </div>
      </div>
    </div>
  );
}

export function Sidebar() {
  const channels = useStore((s) => s.channels);
  const loaded = useStore((s) => s.channelsLoaded);
  const route = useStore((s) => s.route);
  const me = useStore((s) => s.me)!;
  useStore((s) => s.users);
  useStore((s) => s.prefs);
  useStore((s) => s.activity);
  const [menu, setMenu] = useState(false);
  const s = store.get();
  const list = Object.values(channels);
  const rooms = sortChannels(
    list.filter((c) => c.kind === 'public' || c.kind === 'private'),
    s,
  );
  const dms = sortDms(
    list.filter((c) => c.kind === 'dm' || c.kind === 'group_dm'),
    s,
  );
  const activeId = route.name === 'channel' ? route.id : null;
  const open = (modal: AppState['modal']) => store.set({ modal });

  return (
    <nav class="sidebar" aria-label={t('sidebar.label')}>
      <div class="side-head">
        <div class="brand">
          <Logo size={26} />
          <span>Enclave</span>
        </div>
        <div class="me-wrap">
          <button class="me-btn" onClick={() => setMenu(!menu)} aria-haspopup="menu" title={t('sidebar.account')}>
            <UserAvatar userId={me.id} size={28} presence />
            <span class="sr-only">{t('sidebar.account')}</span>
          </button>
          {menu && (
            <Menu onClose={() => setMenu(false)} class="me-menu">
              <div class="menu-head">
                <UserAvatar userId={me.id} size={36} />
                <div>
                  <div class="menu-name">{displayName(me)}</div>
                  <div class="muted small">@{me.username}</div>
                </div>
              </div>
              <button
                class="menu-item"
                role="menuitem"
                onClick={() => {
                  setMenu(false);
                  open({ kind: 'settings' });
                }}
              >
                <Settings size={16} /> {t('sidebar.settings')}
              </button>
              {me.is_admin && (
                <button
                  class="menu-item"
                  role="menuitem"
                  onClick={() => {
                    setMenu(false);
                    navigate({ name: 'admin' });
                  }}
                >
                  <Shield size={16} /> {t('admin.title')}
                </button>
              )}
              <div class="menu-sep" />
              <button class="menu-item" role="menuitem" onClick={() => void logout()}>
                <LogOut size={16} /> {t('sidebar.logout')}
              </button>
            </Menu>
          )}
        </div>
      </div>
      <button class="jump-btn" onClick={() => open({ kind: 'switcher' })}>
        <Search size={15} />
        <span>{t('switcher.button')}</span>
        <Kbd>{isMac ? '⌘K' : 'Ctrl K'}</Kbd>
      </button>
      <SearchBox />
      <div class="side-scroll">
        <div class="side-nav">
          <button class="side-item" onClick={() => open({ kind: 'browse' })}>
            <span class="side-icon">
              <Compass size={16} />
            </span>
            <span class="side-label">{t('sidebar.browse')}</span>
          </button>
          <button class="side-item" onClick={() => open({ kind: 'people' })}>
            <span class="side-icon">
              <Users size={16} />
            </span>
            <span class="side-label">{t('sidebar.people')}</span>
          </button>
          <button class="side-item" data-testid="open-directory" onClick={() => navigate({ name: 'directory' })}>
            <span class="side-icon">
              <Users size={16} />
            </span>
            <span class="side-label">{t('directory.title')}</span>
          </button>
          {me.is_admin && (
            <a
              href="/admin"
              class={cls('side-item', route.name === 'admin' && 'active')}
              onClick={(e) => {
                e.preventDefault();
                navigate({ name: 'admin' });
              }}
            >
              <span class="side-icon">
                <Shield size={16} />
              </span>
              <span class="side-label">{t('admin.title')}</span>
            </a>
          )}
        </div>
        <Section title={t('sidebar.channels')} onAdd={() => open({ kind: 'create' })} addLabel={t('create.title')}>
          {rooms.map((c) => (
            <Item key={c.id} c={c} active={c.id === activeId} />
          ))}
          {loaded && rooms.length === 0 && (
            <button class="side-empty" onClick={() => open({ kind: 'browse' })}>
              {t('sidebar.noChannels')}
            </button>
          )}
        </Section>
        <Section title={t('sidebar.dms')} onAdd={() => open({ kind: 'dm' })} addLabel={t('dm.new')}>
          {dms.map((c) => (
            <Item key={c.id} c={c} active={c.id === activeId} />
          ))}
          {loaded && dms.length === 0 && (
            <button class="side-empty" onClick={() => open({ kind: 'dm' })}>
              {t('sidebar.noDms')}
            </button>
          )}
        </Section>
      </div>
      <NotifyPrompt />
    </nav>
  );
}
