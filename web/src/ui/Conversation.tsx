import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import {
  joinChannel,
  reportError,
  loadLatest,
  loadOlder,
  loadUntil,
  maybeMarkRead,
  navigate,
  store,
  togglePanel,
  view,
} from '../lib/client';
import { buildRows, pendingFor } from '../lib/timeline';
import type { Channel } from '../lib/types';
import { channelLabel, cls, formatDay, formatTime } from '../lib/util';
import { t, tn } from '../i18n';
import { Spinner, UserAvatar, useStore } from './common';
import { Composer, editLastOwn } from './Composer';
import { ArrowDown, ArrowUp, ChevronLeft, Hash, Info, Lock, Pin, Users, WifiOff } from './icons';
import { MessageItem, PendingItem } from './Message';
import { Ephemerals } from './Ephemeral';
import { ChannelIcon } from './Sidebar';

export function ConnectionBanner() {
  const conn = useStore((s) => s.conn);
  const ever = useStore((s) => s.everConnected);
  const pending = useStore((s) => s.outbox.filter((p) => p.status === 'sending').length);
  const [show, setShow] = useState(false);
  // Do not flash the banner for a reconnection that succeeds at once.
  useEffect(() => {
    if (conn === 'online') {
      setShow(false);
      return;
    }
    const id = setTimeout(() => setShow(true), ever ? 1200 : 4000);
    return () => clearTimeout(id);
  }, [conn, ever]);
  if (!show || conn === 'online') return null;
  return (
    <div class="conn-banner" role="status" data-conn={conn}>
      <WifiOff size={15} />
      <span>{conn === 'connecting' ? t('conn.reconnecting') : t('conn.offline')}</span>
      {pending > 0 && <span class="conn-pending">{tn('conn.pending', pending)}</span>}
    </div>
  );
}

function Header({ c }: { c: Channel }) {
  const panel = useStore((s) => s.panel);
  const me = useStore((s) => s.me!);
  const users = useStore((s) => s.users);
  useStore((s) => s.prefs);
  const label = channelLabel(c, { users, me });
  const direct = c.kind === 'dm' || c.kind === 'group_dm';
  const other = c.kind === 'dm' ? (c.dm_user_ids ?? []).find((id) => id !== me.id) : undefined;
  return (
    <header class="conv-head">
      <button class="icon-btn back-btn" onClick={() => navigate({ name: 'home' })} aria-label={t('common.back')}>
        <ChevronLeft size={20} />
      </button>
      <button class="conv-title" onClick={() => store.set({ modal: { kind: 'channelInfo' } })} title={t('channel.details')}>
        <span class="conv-icon">
          {c.kind === 'dm' && other ? (
            <UserAvatar userId={other} size={24} presence />
          ) : direct ? (
            <ChannelIcon c={c} />
          ) : c.kind === 'private' ? (
            <Lock size={17} />
          ) : (
            <Hash size={18} />
          )}
        </span>
        <h1 class="conv-name">{label}</h1>
        {c.archived && <span class="tag">{t('channel.archived')}</span>}
      </button>
      {c.topic && <div class="conv-topic" title={c.topic}>{c.topic}</div>}
      <div class="conv-actions">
        {!direct && (
          <button
            class={cls('head-btn', panel?.kind === 'members' && 'on')}
            onClick={() => togglePanel('members')}
            aria-label={`${t('members.title')} ${c.n_members}`}
            title={t('members.title')}
          >
            <Users size={17} />
            <span class="head-count">{c.n_members}</span>
          </button>
        )}
        <button
          class={cls('head-btn', panel?.kind === 'pins' && 'on')}
          onClick={() => togglePanel('pins')}
          aria-label={t('pins.title')}
          title={t('pins.title')}
        >
          <Pin size={17} />
        </button>
        <button class="head-btn" onClick={() => store.set({ modal: { kind: 'channelInfo' } })} aria-label={t('channel.details')} title={t('channel.details')}>
          <Info size={17} />
        </button>
      </div>
    </header>
  );
}

function Intro({ c }: { c: Channel }) {
  const me = useStore((s) => s.me!);
  const users = useStore((s) => s.users);
  const label = channelLabel(c, { users, me });
  const direct = c.kind === 'dm' || c.kind === 'group_dm';
  const others = (c.dm_user_ids ?? []).filter((id) => id !== me.id);
  return (
    <div class="intro">
      {direct ? (
        <div class="intro-avatars">
          {(others.length ? others : [me.id]).slice(0, 4).map((id) => (
            <UserAvatar key={id} userId={id} size={56} />
          ))}
        </div>
      ) : (
        <div class="intro-icon">{c.kind === 'private' ? <Lock size={28} /> : <Hash size={30} />}</div>
      )}
      <h2>{label}</h2>
      <p class="muted">
        {direct
          ? others.length === 0
            ? t('intro.notes')
            : t('intro.dm', { name: label })
          : t('intro.channel', { name: label })}
      </p>
      {!direct && c.purpose && <p class="intro-purpose">{c.purpose}</p>}
    </div>
  );
}

function MessageList({ c }: { c: Channel }) {
  const tl = useStore((s) => s.timelines[c.id]);
  const outbox = useStore((s) => s.outbox);
  const me = useStore((s) => s.me!.id);
  const marker = useStore((s) => s.unreadMarker[c.id] ?? null);
  const focus = useStore((s) => s.focusMessage);
  useStore((s) => s.prefs);
  const ref = useRef<HTMLDivElement>(null);
  const snap = useRef({ height: 0, top: 0, firstId: '', lastId: '', atBottom: true });
  const [newBelow, setNewBelow] = useState(false);
  const [unreadAbove, setUnreadAbove] = useState(false);
  const [highlight, setHighlight] = useState<string | null>(null);
  const newBelowRef = useRef(false);
  const unreadAboveRef = useRef(false);

  const messages = tl?.messages ?? [];
  const pending = useMemo(() => pendingFor(outbox, c.id, null, messages), [outbox, c.id, messages]);
  // The line goes in only once the message it follows is loaded (or the history is complete).
  const hasMore = tl?.hasMoreBefore ?? true;
  const lineAt =
    marker !== null && (messages.length === 0 || !hasMore || messages[0].seq <= marker) ? marker : null;
  const rows = useMemo(() => buildRows(messages, pending, me, lineAt), [messages, pending, me, lineAt]);
  const firstId = messages[0]?.id ?? '';
  const lastKey = rows.length ? rows[rows.length - 1].key : '';

  const measure = () => {
    const el = ref.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    snap.current.atBottom = atBottom;
    snap.current.height = el.scrollHeight;
    snap.current.top = el.scrollTop;
    view.atBottom = atBottom;
    if (atBottom && newBelowRef.current) {
      newBelowRef.current = false;
      setNewBelow(false);
    }
    const line = el.querySelector<HTMLElement>('.unread-line');
    const above = marker !== null && (!line || line.offsetTop < el.scrollTop + 8);
    if (above !== unreadAboveRef.current) {
      unreadAboveRef.current = above;
      setUnreadAbove(above);
    }
  };

  // Keep the view anchored: at the bottom when it was there, in place when older pages load.
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const s = snap.current;
    const prepended = s.firstId !== '' && firstId !== s.firstId;
    const appended = lastKey !== s.lastId;
    if (prepended && !s.atBottom) {
      el.scrollTop = s.top + (el.scrollHeight - s.height);
    } else if (s.atBottom || view.atBottom) {
      el.scrollTop = el.scrollHeight;
    } else if (appended && s.lastId !== '' && !newBelowRef.current) {
      newBelowRef.current = true;
      setNewBelow(true);
    }
    s.firstId = firstId;
    s.lastId = lastKey;
    measure();
    if (s.atBottom) maybeMarkRead();
  });

  // Scroll to a message asked for (from pins, search or a notification). The message may be
  // rendered a frame or two after the request (the list re-renders as pages arrive), so look
  // again on the next frames for up to two seconds rather than only after this render.
  useEffect(() => {
    if (!focus || focus.channelId !== c.id) return;
    let frame = 0;
    let tries = 0;
    const look = () => {
      const el = ref.current?.querySelector<HTMLElement>(`[data-msg-id="${focus.id}"]`);
      if (el) {
        el.scrollIntoView({ block: 'center' });
        setHighlight(focus.id);
        store.set({ focusMessage: null });
        setTimeout(() => setHighlight(null), 2200);
        measure();
      } else if (++tries < 120) {
        frame = requestAnimationFrame(look);
      }
    };
    look();
    return () => cancelAnimationFrame(frame);
  });

  // A list at the bottom stays there when its content or its box changes size without a
  // render: an image that loads, the composer growing or shrinking (its upload tray).
  useEffect(() => {
    const el = ref.current;
    const stick = () => {
      if (el && snap.current.atBottom) {
        el.scrollTop = el.scrollHeight;
        snap.current.height = el.scrollHeight;
        snap.current.top = el.scrollTop;
      }
    };
    window.addEventListener('resize', stick);
    el?.addEventListener('load', stick, true);
    const ro = typeof ResizeObserver === 'undefined' ? null : new ResizeObserver(stick);
    if (el && ro) ro.observe(el);
    return () => {
      window.removeEventListener('resize', stick);
      el?.removeEventListener('load', stick, true);
      ro?.disconnect();
    };
  }, []);

  const onScroll = () => {
    measure();
    const el = ref.current;
    if (el && el.scrollTop < 400 && tl?.hasMoreBefore && !tl.loading) void loadOlder(c.id);
    if (snap.current.atBottom) maybeMarkRead();
  };

  // The list is one Tab stop; ↑ and ↓ move between messages (a focused message shows its
  // actions, which Tab then reaches).
  const onListKey = (e: KeyboardEvent) => {
    if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown' && e.key !== 'Home' && e.key !== 'End') return;
    const el = ref.current;
    const target = e.target as HTMLElement;
    if (!el || (target !== el && !target.classList.contains('msg'))) return;
    const items = [...el.querySelectorAll<HTMLElement>('.msg[data-msg-id]')];
    if (items.length === 0) return;
    e.preventDefault();
    const i = items.indexOf(target);
    const next =
      e.key === 'Home' ? 0 : e.key === 'End' ? items.length - 1 : i < 0 ? items.length - 1 : Math.min(items.length - 1, Math.max(0, i + (e.key === 'ArrowUp' ? -1 : 1)));
    items[next].focus();
    items[next].scrollIntoView({ block: 'nearest' });
  };

  const jumpToUnread = async () => {
    if (marker === null) return;
    await loadUntil(c.id, marker);
    requestAnimationFrame(() => {
      const line = ref.current?.querySelector<HTMLElement>('.unread-line');
      if (line && ref.current) {
        ref.current.scrollTop = line.offsetTop - 60;
        measure();
      }
    });
  };

  const toBottom = () => {
    const el = ref.current;
    if (el) el.scrollTo({ top: el.scrollHeight, behavior: 'smooth' });
  };

  const unreadCount = marker === null ? 0 : messages.filter((m) => m.seq > marker && m.user_id !== me && !m.deleted).length;
  const firstUnread = marker === null ? undefined : messages.find((m) => m.seq > marker && m.user_id !== me);

  return (
    <div class="list-wrap">
      {unreadAbove && marker !== null && (
        <div class="unread-banner">
          <button class="unread-jump" onClick={() => void jumpToUnread()}>
            <ArrowUp size={14} />
            {firstUnread
              ? t('unread.since', { n: unreadCount, time: formatTime(firstUnread.created_at) })
              : t('unread.jump')}
          </button>
          <button class="unread-dismiss" onClick={() => store.set((s) => ({ unreadMarker: { ...s.unreadMarker, [c.id]: null } }))}>
            {t('unread.markRead')}
          </button>
        </div>
      )}
      <div
        class="messages"
        ref={ref}
        onScroll={onScroll}
        onKeyDown={onListKey}
        tabIndex={0}
        role="log"
        aria-live="polite"
        aria-label={t('conv.messages')}
      >
        {tl && !tl.hasMoreBefore && tl.loaded && <Intro c={c} />}
        {tl?.loading && (
          <div class="list-loading">
            <Spinner />
          </div>
        )}
        {tl?.error && !tl.loaded && (
          <div class="list-error">
            {tl.error}{' '}
            <button class="link-btn" onClick={() => void loadLatest(c.id)}>
              {t('common.retry')}
            </button>
          </div>
        )}
        {rows.map((r) => {
          switch (r.kind) {
            case 'date':
              return (
                <div key={r.key} class="date-sep" role="separator">
                  <span>{formatDay(r.at)}</span>
                </div>
              );
            case 'unread':
              return (
                <div key={r.key} class="unread-line" role="separator">
                  <span>{t('unread.line')}</span>
                </div>
              );
            case 'message':
              return (
                <MessageItem
                  key={r.key}
                  m={r.message}
                  continued={r.continued}
                  role={c.role}
                  archived={c.archived}
                  context="channel"
                  highlight={highlight === r.message.id}
                />
              );
            case 'pending':
              return <PendingItem key={r.key} p={r.pending} continued={r.continued} />;
          }
        })}
        <Ephemerals channelId={c.id} threadRootId={null} />
        <div class="list-end" />
      </div>
      {newBelow && (
        <button class="new-below" onClick={toBottom}>
          <ArrowDown size={14} /> {t('unread.newBelow')}
        </button>
      )}
    </div>
  );
}

export function Conversation({ id }: { id: string }) {
  const c = useStore((s) => s.channels[id]);
  const me = useStore((s) => s.me!);
  const users = useStore((s) => s.users);
  const outside = useStore((s) => s.outside[id]);
  useStore((s) => s.prefs);
  if (!c) {
    if (outside) return <Outside id={id} c={outside === 'missing' ? null : outside} />;
    return (
      <div class="conv conv-empty">
        <Spinner />
      </div>
    );
  }
  const label = channelLabel(c, { users, me });
  const direct = c.kind === 'dm' || c.kind === 'group_dm';
  return (
    <section class="conv" aria-label={label}>
      <Header c={c} />
      <ConnectionBanner />
      <MessageList key={c.id} c={c} />
      <Composer
        channel={c}
        threadRootId={null}
        placeholder={direct ? t('composer.placeholderDm', { name: label }) : t('composer.placeholder', { name: label })}
        onEditLast={() => editLastOwn(c.id, null)}
      />
    </section>
  );
}

/** A conversation opened by link that one is not in: a public channel's preview with a Join
 * button, or a message that it does not exist. */
function Outside({ id, c }: { id: string; c: Channel | null }) {
  const [busy, setBusy] = useState(false);
  return (
    <section class="conv home outside" aria-label={c ? `#${c.name}` : t('outside.missingTitle')}>
      <header class="conv-head">
        <button class="icon-btn back-btn" onClick={() => navigate({ name: 'home' })} aria-label={t('common.back')}>
          <ChevronLeft size={20} />
        </button>
      </header>
      <div class="home-body">
        {c ? (
          <>
            <div class="intro-icon">
              <Hash size={30} />
            </div>
            <h1 class="outside-name">{c.name}</h1>
            {c.topic && <p class="outside-topic">{c.topic}</p>}
            {c.purpose && <p class="muted">{c.purpose}</p>}
            <p class="muted">{tn('outside.members', c.n_members)}</p>
            {c.archived ? (
              <p class="muted">{t('outside.archived')}</p>
            ) : (
              <div class="home-actions">
                <button
                  class="btn btn-primary outside-join"
                  disabled={busy}
                  onClick={() => {
                    setBusy(true);
                    joinChannel(id)
                      .catch(reportError)
                      .finally(() => setBusy(false));
                  }}
                >
                  {t('outside.join', { name: c.name ?? '' })}
                </button>
              </div>
            )}
          </>
        ) : (
          <>
            <h1>{t('outside.missingTitle')}</h1>
            <p class="muted outside-missing">{t('outside.missingBody')}</p>
            <div class="home-actions">
              <button class="btn" onClick={() => store.set({ modal: { kind: 'browse' } })}>
                {t('sidebar.browse')}
              </button>
            </div>
          </>
        )}
      </div>
    </section>
  );
}

export function Home() {
  const me = useStore((s) => s.me!);
  useStore((s) => s.prefs);
  return (
    <section class="conv home">
      <ConnectionBanner />
      <div class="home-body">
        <h1>{t('home.welcome', { name: me.display_name || me.username })}</h1>
        <p class="muted">{t('home.body')}</p>
        <div class="home-actions">
          <button class="btn btn-primary" onClick={() => store.set({ modal: { kind: 'browse' } })}>
            {t('sidebar.browse')}
          </button>
          <button class="btn" onClick={() => store.set({ modal: { kind: 'dm' } })}>
            {t('dm.new')}
          </button>
          <button class="btn" onClick={() => store.set({ modal: { kind: 'create' } })}>
            {t('create.title')}
          </button>
        </div>
      </div>
    </section>
  );
}
