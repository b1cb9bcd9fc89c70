import { memo } from 'preact/compat';
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  confirm,
  deleteMessage,
  discard,
  editMessage,
  ensureUsers,
  markUnreadFrom,
  openThread,
  reportError,
  retry,
  store,
  toggleReaction,
  togglePin,
} from '../lib/client';
import { emojiChar, PALETTE, QUICK_REACTIONS } from '../lib/emoji';
import { isEmojiOnly } from '../lib/markdown';
import { noticeText } from '../lib/notices';
import { Markdown, type RenderContext } from '../lib/markdown-render';
import { mayUnpin } from '../lib/permissions';
import type { Pending } from '../lib/timeline';
import type { Reaction, StoredMessage } from '../lib/types';
import { cls, displayName, formatFull, formatTime } from '../lib/util';
import { t, tn } from '../i18n';
import { UserAvatar, useStore } from './common';
import { Alert, Clock, Edit, Pin, Reply, Smile, Trash } from './icons';
import { Attachments } from './Files';
import { GuestBadge } from './admin/Guests';

export function useRenderContext(): RenderContext {
  const me = useStore((s) => s.me?.username);
  const byUsername = useStore((s) => s.byUsername);
  return { me, isUser: (name) => name in byUsername };
}

function openProfileFor(userId: string) {
  store.set({ modal: { kind: 'profile', userId } });
}

function onMentionClick(e: MouseEvent) {
  const el = (e.target as HTMLElement).closest<HTMLElement>('.mention[data-username]');
  if (!el) return;
  const id = store.get().byUsername[el.dataset.username ?? ''];
  if (id) openProfileFor(id);
}

/** A popover of emoji, placed next to the button that opened it. */
export function EmojiPicker({
  anchor,
  onPick,
  onClose,
}: {
  anchor: DOMRect;
  onPick: (e: string) => void;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const down = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) onClose();
    };
    const key = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        onClose();
      }
    };
    const id = setTimeout(() => document.addEventListener('mousedown', down), 0);
    document.addEventListener('keydown', key, true);
    return () => {
      clearTimeout(id);
      document.removeEventListener('mousedown', down);
      document.removeEventListener('keydown', key, true);
    };
  }, [onClose]);
  const width = 296;
  const height = 300;
  const left = Math.max(8, Math.min(window.innerWidth - width - 8, anchor.right - width));
  const below = anchor.bottom + height + 8 < window.innerHeight;
  const top = below ? anchor.bottom + 6 : Math.max(8, anchor.top - height - 6);
  return (
    <div class="emoji-picker" ref={ref} style={{ left: `${left}px`, top: `${top}px` }} role="dialog" aria-label={t('reactions.pick')}>
      {PALETTE.map((g) => (
        <div key={g.group} class="emoji-group">
          <div class="emoji-group-title">{t(`emoji.${g.group}` as 'emoji.smileys')}</div>
          <div class="emoji-grid">
            {g.emoji.map((e) => (
              <button key={e} class="emoji-cell" onClick={() => onPick(e)} aria-label={e}>
                {e}
              </button>
            ))}
          </div>
        </div>
      ))}
    </div>
  );
}

function ReactionChip({ r, m }: { r: Reaction; m: StoredMessage }) {
  const me = useStore((s) => s.me!.id);
  const users = useStore((s) => s.users);
  const mine = r.user_ids.includes(me);
  const names = r.user_ids.map((id) => (id === me ? t('reactions.you') : displayName(users[id])));
  const ch = emojiChar(r.emoji);
  return (
    <button
      class={cls('reaction', mine && 'mine')}
      onClick={() => void toggleReaction(m, r.emoji)}
      title={t('reactions.who', { names: names.join(', '), emoji: ch })}
      aria-pressed={mine}
      data-emoji={r.emoji}
    >
      <span class="reaction-emoji">{ch}</span>
      <span class="reaction-count">{r.count}</span>
    </button>
  );
}

function EditBox({ m }: { m: StoredMessage }) {
  const [text, setText] = useState(m.text);
  const [busy, setBusy] = useState(false);
  const ref = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.focus();
    el.setSelectionRange(el.value.length, el.value.length);
    autosize(el);
  }, []);
  const cancel = () => store.set({ editing: null });
  const save = async () => {
    const v = text.trim();
    if (!v) return;
    if (v === m.text) return cancel();
    setBusy(true);
    try {
      await editMessage(m.id, v);
      cancel();
    } catch (e) {
      reportError(e);
      setBusy(false);
    }
  };
  return (
    <div class="edit-box">
      <textarea
        ref={ref}
        value={text}
        aria-label={t('message.editLabel')}
        onInput={(e) => {
          setText((e.target as HTMLTextAreaElement).value);
          autosize(e.target as HTMLTextAreaElement);
        }}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.stopPropagation();
            cancel();
          } else if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
            e.preventDefault();
            void save();
          }
        }}
      />
      <div class="edit-actions">
        <span class="muted small">{t('message.editHint')}</span>
        <button class="btn btn-sm" onClick={cancel}>
          {t('common.cancel')}
        </button>
        <button class="btn btn-sm btn-primary" onClick={() => void save()} disabled={busy}>
          {t('common.save')}
        </button>
      </div>
    </div>
  );
}

export function autosize(el: HTMLTextAreaElement) {
  el.style.height = 'auto';
  el.style.height = Math.min(el.scrollHeight, 320) + 'px';
}

export const MessageItem = memo(function MessageItem({
  m,
  continued,
  role,
  archived = false,
  context,
  highlight,
}: {
  m: StoredMessage;
  continued: boolean;
  role?: string;
  archived?: boolean;
  context: 'channel' | 'thread' | 'root' | 'pins';
  highlight?: boolean;
}) {
  const author = useStore((s) => s.users[m.user_id]);
  const me = useStore((s) => s.me!);
  const editing = useStore((s) => s.editing === m.id);
  useStore((s) => s.prefs);
  const ctx = useRenderContext();
  const [picker, setPicker] = useState<DOMRect | null>(null);
  const kind = useStore((s) => s.channels[m.channel_id]?.kind);
  const pinner = useStore((s) => (m.pinned_by ? s.users[m.pinned_by] : undefined));
  const mine = m.user_id === me.id;
  const canModerate = me.is_admin || role === 'owner' || role === 'admin';
  // Pinning is open to every member; unpinning to the pinner and channel moderators.
  const canTogglePin = !m.pinned || (kind !== undefined && mayUnpin(me, { kind, role }, m));

  const askDelete = () =>
    confirm({
      kind: 'confirm',
      title: t('message.deleteTitle'),
      body: t('message.deleteBody'),
      action: t('common.delete'),
      danger: true,
      onConfirm: () => void deleteMessage(m.id).catch(reportError),
    });

  if (m.deleted) {
    return (
      <div class={cls('msg', 'msg-deleted')} data-msg-id={m.id} data-seq={m.seq}>
        <div class="msg-gutter">
          <span class="deleted-avatar" />
        </div>
        <div class="msg-body">
          <p class="muted deleted-text">{t('message.deleted')}</p>
          {context === 'channel' && m.reply_count > 0 && <ThreadSummary m={m} />}
        </div>
      </div>
    );
  }

  if (m.notice) return <NoticeItem m={m} />;

  const big = isEmojiOnly(m.text);
  return (
    <div
      class={cls('msg', continued && 'continued', highlight && 'highlight', m.pinned && 'pinned', editing && 'editing')}
      data-msg-id={m.id}
      data-seq={m.seq}
      data-user-id={m.user_id}
      tabIndex={-1}
    >
      <div class="msg-gutter">
        {continued ? (
          <time class="msg-side-time" dateTime={m.created_at} title={formatFull(m.created_at)}>
            {formatTime(m.created_at)}
          </time>
        ) : (
          <button class="avatar-btn" tabIndex={-1} onClick={() => openProfileFor(m.user_id)}>
            <UserAvatar userId={m.user_id} size={36} />
            <span class="sr-only">{displayName(author)}</span>
          </button>
        )}
      </div>
      <div class="msg-body">
        {!continued && (
          <div class="msg-head">
            <button class="msg-author" tabIndex={-1} onClick={() => openProfileFor(m.user_id)}>
              {displayName(author)}
            </button>
            {author?.is_bot && <span class="tag">{t('user.bot')}</span>}
            <GuestBadge user={author} />
            <time dateTime={m.created_at} title={formatFull(m.created_at)}>
              {formatTime(m.created_at)}
            </time>
          </div>
        )}
        {m.pinned && context !== 'pins' && (
          <div class="pinned-tag" title={pinner ? t('pins.by', { name: displayName(pinner) }) : undefined}>
            <Pin size={12} /> {t('pins.tag')}
          </div>
        )}
        {editing ? (
          <EditBox m={m} />
        ) : (
          <div class={cls('msg-text', big && 'jumbo')} onClick={onMentionClick}>
            <Markdown text={m.text} ctx={ctx} />
            {m.edited_at && (
              <span class="edited" title={formatFull(m.edited_at)}>
                {t('message.edited')}
              </span>
            )}
          </div>
        )}
        {!m.deleted && <Attachments files={m.files} />}
        {m.reactions.length > 0 && (
          <div class="reactions">
            {m.reactions.map((r) => (
              <ReactionChip key={r.emoji} r={r} m={m} />
            ))}
            {!archived && (
              <button
                class="reaction reaction-add"
                onClick={(e) => setPicker((e.currentTarget as HTMLElement).getBoundingClientRect())}
                aria-label={t('reactions.add')}
                title={t('reactions.add')}
              >
                <Smile size={15} />
              </button>
            )}
          </div>
        )}
        {context === 'channel' && m.reply_count > 0 && <ThreadSummary m={m} />}
      </div>
      {!editing && context !== 'pins' && !archived && (
        <div class="toolbar" role="toolbar" aria-label={t('message.actions')}>
          {QUICK_REACTIONS.slice(0, 3).map((e) => (
            <button key={e} class="tool tool-emoji" onClick={() => void toggleReaction(m, e)} aria-label={t('reactions.react', { emoji: e })} title={t('reactions.react', { emoji: e })}>
              {e}
            </button>
          ))}
          <button
            class="tool"
            onClick={(e) => setPicker((e.currentTarget as HTMLElement).getBoundingClientRect())}
            aria-label={t('reactions.add')}
            title={t('reactions.add')}
          >
            <Smile size={16} />
          </button>
          {context === 'channel' && (
            <button class="tool" onClick={() => openThread(m.channel_id, m.id)} aria-label={t('thread.reply')} title={t('thread.reply')}>
              <Reply size={16} />
            </button>
          )}
          {canTogglePin && (
            <button
              class={cls('tool', m.pinned && 'on')}
              onClick={() => void togglePin(m)}
              aria-label={m.pinned ? t('pins.unpin') : t('pins.pin')}
              title={m.pinned ? t('pins.unpin') : t('pins.pin')}
            >
              <Pin size={16} />
            </button>
          )}
          {context === 'channel' && !mine && (
            <button class="tool" onClick={() => void markUnreadFrom(m)} aria-label={t('message.markUnread')} title={t('message.markUnread')}>
              <Alert size={16} />
            </button>
          )}
          {mine && (
            <button class="tool" onClick={() => store.set({ editing: m.id })} aria-label={t('message.edit')} title={t('message.edit')}>
              <Edit size={16} />
            </button>
          )}
          {(mine || canModerate) && (
            <button class="tool tool-danger" onClick={askDelete} aria-label={t('common.delete')} title={t('common.delete')}>
              <Trash size={16} />
            </button>
          )}
        </div>
      )}
      {picker && (
        <EmojiPicker
          anchor={picker}
          onClose={() => setPicker(null)}
          onPick={(e) => {
            setPicker(null);
            const already = m.reactions.some((r) => r.emoji === e && r.user_ids.includes(me.id));
            if (!already) void toggleReaction(m, e);
          }}
        />
      )}
    </div>
  );
});

function ThreadSummary({ m }: { m: StoredMessage }) {
  useStore((s) => s.prefs);
  return (
    <button class="thread-summary" onClick={() => openThread(m.channel_id, m.id)}>
      <Reply size={14} />
      <span class="thread-count">{tn('thread.replies', m.reply_count)}</span>
      {m.last_reply_at && <span class="muted">{t('thread.lastReply', { time: formatTime(m.last_reply_at) })}</span>}
    </button>
  );
}

/** A notice: one centred line about the conversation itself. */
function NoticeItem({ m }: { m: StoredMessage }) {
  const users = useStore((s) => s.users);
  useStore((s) => s.prefs);
  useEffect(() => ensureUsers([m.user_id]), [m.user_id]);
  const text = noticeText(m.notice!, displayName(users[m.user_id]), m.text);
  return (
    <div class="msg msg-notice" data-msg-id={m.id} data-seq={m.seq} data-notice={m.notice} role="note">
      <span class="notice-text">{text}</span>
      <time class="muted" dateTime={m.created_at} title={formatFull(m.created_at)}>
        {formatTime(m.created_at)}
      </time>
    </div>
  );
}

export function PendingItem({ p, continued }: { p: Pending; continued: boolean }) {
  const me = useStore((s) => s.me!);
  const conn = useStore((s) => s.conn);
  const ctx = useRenderContext();
  const waiting = p.status === 'sending' && (p.attempts > 0 || conn !== 'online');
  return (
    <div class={cls('msg', 'msg-pending', continued && 'continued', p.status === 'failed' && 'msg-failed')} data-client-msg-id={p.clientMsgId} data-status={p.status}>
      <div class="msg-gutter">
        {continued ? (
          <span class="msg-side-time">
            <Clock size={12} />
          </span>
        ) : (
          <UserAvatar userId={me.id} size={36} />
        )}
      </div>
      <div class="msg-body">
        {!continued && (
          <div class="msg-head">
            <span class="msg-author">{displayName(me)}</span>
            <time>{formatTime(p.createdAt)}</time>
          </div>
        )}
        <div class="msg-text">
          <Markdown text={p.text} ctx={ctx} />
        </div>
        {p.status === 'failed' ? (
          <div class="send-status failed" role="status">
            <Alert size={14} /> {t('send.failed')}
            {p.error ? `: ${p.error}` : ''}
            <button class="link-btn" onClick={() => retry(p.clientMsgId)}>
              {t('send.retry')}
            </button>
            <button class="link-btn" onClick={() => discard(p.clientMsgId)}>
              {t('send.discard')}
            </button>
          </div>
        ) : (
          <div class="send-status" role="status">
            <Clock size={13} /> {p.error ?? (waiting ? t('send.waiting') : t('send.sending'))}
          </div>
        )}
      </div>
    </div>
  );
}
