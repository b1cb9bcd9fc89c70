// The right-hand panel: a thread, the channel's pins, or its members.

import { Ephemerals } from './Ephemeral';
import { useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { addMember, closePanel, loadUntil, navigate, openDm, removeMember, reportError, store } from '../lib/client';
import { buildRows, pendingFor } from '../lib/timeline';
import type { Channel, User } from '../lib/types';
import { channelLabel, displayName, matchScore } from '../lib/util';
import { t, tn } from '../i18n';
import { Spinner, UserAvatar, useStore } from './common';
import { Composer, editLastOwn } from './Composer';
import { Pin, X } from './icons';
import { MessageItem, PendingItem } from './Message';

function PanelHead({ title, sub }: { title: string; sub?: string }) {
  return (
    <div class="panel-head">
      <div>
        <h2>{title}</h2>
        {sub && <div class="muted small">{sub}</div>}
      </div>
      <button class="icon-btn" onClick={closePanel} aria-label={t('common.close')} title={t('common.close')}>
        <X />
      </button>
    </div>
  );
}

function ThreadPanel({ c, rootId }: { c: Channel; rootId: string }) {
  const th = useStore((s) => s.threads[rootId]);
  const outbox = useStore((s) => s.outbox);
  const me = useStore((s) => s.me!);
  const users = useStore((s) => s.users);
  useStore((s) => s.prefs);
  const ref = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const replies = th?.replies ?? [];
  const pending = useMemo(() => pendingFor(outbox, c.id, rootId, replies), [outbox, c.id, rootId, replies]);
  const rows = useMemo(() => buildRows(replies, pending, me.id, null), [replies, pending, me.id]);
  useLayoutEffect(() => {
    const el = ref.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  });
  const label = channelLabel(c, { users, me });
  return (
    <aside class="panel" aria-label={t('thread.title')}>
      <PanelHead title={t('thread.title')} sub={label} />
      <div
        class="panel-body thread-body"
        ref={ref}
        onScroll={() => {
          const el = ref.current!;
          atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        {th?.error && <div class="list-error">{th.error}</div>}
        {!th?.root && th?.loading && (
          <div class="list-loading">
            <Spinner />
          </div>
        )}
        {th?.root && <MessageItem m={th.root} continued={false} role={c.role} archived={c.archived} context="root" />}
        {th?.root && (
          <div class="thread-sep">
            <span>{th.root.reply_count > 0 ? tn('thread.replies', th.root.reply_count) : t('thread.noReplies')}</span>
          </div>
        )}
        {rows.map((r) =>
          r.kind === 'message' ? (
            <MessageItem key={r.key} m={r.message} continued={r.continued} role={c.role} archived={c.archived} context="thread" />
          ) : r.kind === 'pending' ? (
            <PendingItem key={r.key} p={r.pending} continued={r.continued} />
          ) : null,
        )}
        <Ephemerals channelId={c.id} threadRootId={rootId} />
      </div>
      {th?.root && !th.root.deleted && (
        <Composer
          channel={c}
          threadRootId={rootId}
          placeholder={t('thread.placeholder')}
          onEditLast={() => editLastOwn(c.id, rootId)}
        />
      )}
    </aside>
  );
}

function PinsPanel({ c }: { c: Channel }) {
  const pins = useStore((s) => s.pins[c.id]);
  useStore((s) => s.prefs);
  const jump = async (id: string, seq: number) => {
    await loadUntil(c.id, seq - 1);
    store.set({ focusMessage: { channelId: c.id, id, at: Date.now() } });
  };
  return (
    <aside class="panel" aria-label={t('pins.title')}>
      <PanelHead title={t('pins.title')} />
      <div class="panel-body">
        {!pins && (
          <div class="list-loading">
            <Spinner />
          </div>
        )}
        {pins && pins.length === 0 && (
          <div class="panel-empty">
            <Pin size={28} />
            <p>{t('pins.empty')}</p>
          </div>
        )}
        {pins?.map((m) => (
          <div key={m.id} class="pin-card">
            <MessageItem m={m} continued={false} role={c.role} archived={c.archived} context="pins" />
            <button
              class="link-btn pin-jump"
              onClick={() => (m.thread_root_id ? navigate({ name: 'channel', id: c.id, thread: m.thread_root_id }) : void jump(m.id, m.seq))}
            >
              {t('pins.jump')}
            </button>
          </div>
        ))}
      </div>
    </aside>
  );
}

function MembersPanel({ c }: { c: Channel }) {
  const ids = useStore((s) => s.members[c.id]);
  const users = useStore((s) => s.users);
  const presence = useStore((s) => s.presence);
  const me = useStore((s) => s.me!);
  useStore((s) => s.prefs);
  const [q, setQ] = useState('');
  const [adding, setAdding] = useState(false);
  const canManage = me.is_admin || c.role === 'owner' || c.role === 'admin';
  const members = (ids ?? []).map((id) => users[id]).filter(Boolean) as User[];
  const rank = (u: User) => (presence[u.id]?.presence === 'online' ? 0 : presence[u.id]?.presence === 'away' ? 1 : 2);
  members.sort((a, b) => rank(a) - rank(b) || displayName(a).localeCompare(displayName(b)));
  const inChannel = new Set(ids ?? []);
  const candidates = q.trim()
    ? Object.values(users)
        .filter((u) => u.active && !inChannel.has(u.id) && matchScore(q, u.username, u.display_name) >= 0)
        .slice(0, 8)
    : [];
  return (
    <aside class="panel" aria-label={t('members.title')}>
      <PanelHead title={t('members.title')} sub={tn('members.count', c.n_members)} />
      <div class="panel-body">
        {c.kind !== 'dm' && c.kind !== 'group_dm' && !c.archived && (
          <div class="add-member">
            {adding ? (
              <>
                <input
                  class="input"
                  autoFocus
                  placeholder={t('members.addPlaceholder')}
                  value={q}
                  onInput={(e) => setQ((e.target as HTMLInputElement).value)}
                />
                {candidates.map((u) => (
                  <button
                    key={u.id}
                    class="member-row member-add"
                    onClick={() => {
                      addMember(c.id, u.id).then(() => setQ(''), reportError);
                    }}
                  >
                    <UserAvatar userId={u.id} size={28} />
                    <span class="member-name">{displayName(u)}</span>
                    <span class="muted small">@{u.username}</span>
                  </button>
                ))}
              </>
            ) : (
              <button class="btn btn-sm" onClick={() => setAdding(true)}>
                {t('members.add')}
              </button>
            )}
          </div>
        )}
        {!ids && (
          <div class="list-loading">
            <Spinner />
          </div>
        )}
        {members.map((u) => (
          <div key={u.id} class="member-row">
            <button class="member-main" onClick={() => store.set({ modal: { kind: 'profile', userId: u.id } })}>
              <UserAvatar userId={u.id} size={28} presence />
              <span class="member-name">
                {displayName(u)}
                {u.id === me.id && <span class="muted"> ({t('dm.you')})</span>}
              </span>
              <span class="muted small">@{u.username}</span>
            </button>
            {u.id !== me.id && (
              <button class="link-btn small" onClick={() => void openDm([u.id]).catch(reportError)}>
                {t('members.message')}
              </button>
            )}
            {canManage && u.id !== me.id && (
              <button
                class="link-btn small danger"
                onClick={() => void removeMember(c.id, u.id).catch(reportError)}
                aria-label={t('members.remove', { name: displayName(u) })}
              >
                {t('members.removeShort')}
              </button>
            )}
          </div>
        ))}
      </div>
    </aside>
  );
}

export function Panel({ channelId }: { channelId: string }) {
  const panel = useStore((s) => s.panel);
  const c = useStore((s) => s.channels[channelId]);
  if (!panel || !c) return null;
  switch (panel.kind) {
    case 'thread':
      return <ThreadPanel key={panel.rootId} c={c} rootId={panel.rootId} />;
    case 'pins':
      return <PinsPanel c={c} />;
    case 'members':
      return <MembersPanel c={c} />;
  }
}
