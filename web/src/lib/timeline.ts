// Pure message bookkeeping: merging pages and live events into a channel's timeline without
// duplicates and in order, matching pending sends with their confirmations, and turning a
// timeline into rows to render (date separators, the "new messages" line, grouping).

import type { Message, StoredMessage } from './types';

/** Tags a message from the wire with the position its state is at least as new as. */
export function stored(m: Message, v: number): StoredMessage {
  return { ...m, v };
}

/**
 * Merges `incoming` into `list` (ascending by seq, unique ids). A message already held at a
 * newer version than the incoming copy is kept: a page fetched before an edit event arrived
 * must not undo the edit. Returns `list` itself when nothing changed.
 */
export function mergeMessages(list: StoredMessage[], incoming: StoredMessage[]): StoredMessage[] {
  if (incoming.length === 0) return list;
  const byId = new Map<string, StoredMessage>();
  for (const m of list) byId.set(m.id, m);
  let changed = false;
  for (const m of incoming) {
    const old = byId.get(m.id);
    if (old && old.v > m.v) continue;
    if (old && sameState(old, m)) {
      if (old.v < m.v) {
        byId.set(m.id, { ...old, v: m.v });
      }
      continue;
    }
    byId.set(m.id, m);
    changed = true;
  }
  if (!changed) {
    // Versions may have moved; keep the order and reuse the array when nothing else did.
    let moved = false;
    const out = list.map((m) => {
      const n = byId.get(m.id)!;
      if (n !== m) moved = true;
      return n;
    });
    return moved ? out : list;
  }
  const out = [...byId.values()];
  out.sort((a, b) => a.seq - b.seq || cmpId(a.id, b.id));
  return out;
}

function cmpId(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

function sameState(a: Message, b: Message): boolean {
  return (
    a.text === b.text &&
    a.edited_at === b.edited_at &&
    a.deleted === b.deleted &&
    a.reply_count === b.reply_count &&
    a.last_reply_at === b.last_reply_at &&
    a.pinned === b.pinned &&
    JSON.stringify(a.reactions) === JSON.stringify(b.reactions)
  );
}

/** Applies a change to one message if it is held; returns `list` itself otherwise. */
export function patchMessage(
  list: StoredMessage[],
  id: string,
  f: (m: StoredMessage) => StoredMessage,
): StoredMessage[] {
  const i = list.findIndex((m) => m.id === id);
  if (i < 0) return list;
  const out = list.slice();
  out[i] = f(list[i]);
  return out;
}

/** A message the user wrote that the server has not acknowledged yet. */
export interface Pending {
  clientMsgId: string;
  channelId: string;
  threadRootId: string | null;
  text: string;
  /** Uploaded files to attach. */
  fileIds?: string[];
  createdAt: number;
  /** `sending`: in flight or waiting for the connection; `failed`: refused, needs the user. */
  status: 'sending' | 'failed';
  /** Attempts made so far (0 before the first). */
  attempts: number;
  /** Why the last attempt did not go through: on a failed message, or on one waiting out the
   * server's rate limit ("You're sending too fast; try again in N s"). */
  error?: string;
}

/** Removes the pending send a confirmed message answers. */
export function confirmPending(outbox: Pending[], m: Message, me: string): Pending[] {
  if (!m.client_msg_id || m.user_id !== me) return outbox;
  const i = outbox.findIndex((p) => p.clientMsgId === m.client_msg_id && p.channelId === m.channel_id);
  if (i < 0) return outbox;
  return [...outbox.slice(0, i), ...outbox.slice(i + 1)];
}

/** Pending sends still to show for a conversation: those not yet confirmed in `confirmed`. */
export function pendingFor(
  outbox: Pending[],
  channelId: string,
  threadRootId: string | null,
  confirmed: Message[],
): Pending[] {
  const ids = new Set(confirmed.map((m) => m.client_msg_id).filter(Boolean));
  return outbox.filter(
    (p) => p.channelId === channelId && p.threadRootId === threadRootId && !ids.has(p.clientMsgId),
  );
}

/**
 * What the Up key in an empty composer edits: the newest own message of the conversation. When
 * that message is still on its way (in the outbox, not failed), the editor must open on it once the
 * server confirms it, never on an older message: `afterSend` names the send to wait for.
 */
export function lastOwnToEdit(
  list: Message[],
  outbox: Pending[],
  me: string | undefined,
  channelId: string,
  threadRootId: string | null,
): { edit: string } | { afterSend: string } | null {
  if (!me) return null;
  const waiting = pendingFor(outbox, channelId, threadRootId, list).filter((p) => p.status !== 'failed');
  if (waiting.length > 0) return { afterSend: waiting[waiting.length - 1].clientMsgId };
  for (let i = list.length - 1; i >= 0; i--) {
    const m = list[i];
    if (m.user_id === me && !m.deleted && !m.notice) return { edit: m.id };
  }
  return null;
}

/** A fresh client message id: unique per send, reused by every retry of that send. */
export function newClientMsgId(): string {
  const c = globalThis.crypto;
  if (c && 'randomUUID' in c) return 'w-' + c.randomUUID();
  return 'w-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 12);
}

// ---------------------------------------------------------------------------------------------
// Rows to render

export type Row =
  | { kind: 'date'; key: string; day: string; at: number }
  | { kind: 'unread'; key: string }
  | { kind: 'message'; key: string; message: StoredMessage; continued: boolean }
  | { kind: 'pending'; key: string; pending: Pending; continued: boolean };

const GROUP_MS = 5 * 60 * 1000;

/** The local calendar day of a time, as `YYYY-MM-DD`. */
export function dayKey(t: number): string {
  const d = new Date(t);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/**
 * Builds the rows of a conversation: messages (deleted ones only when replies hang off them),
 * a date separator at each new day, the "new messages" line before the first message after
 * `unreadAfterSeq` written by someone else, and pending sends at the end. Consecutive
 * messages by one author within five minutes are `continued` (no avatar, no name).
 */
export function buildRows(
  messages: StoredMessage[],
  pending: Pending[],
  me: string,
  unreadAfterSeq: number | null,
): Row[] {
  const rows: Row[] = [];
  let lastDay = '';
  let lastUser = '';
  let lastAt = 0;
  let unreadPlaced = unreadAfterSeq === null;
  for (const m of messages) {
    if (m.deleted && m.reply_count === 0) continue;
    const at = Date.parse(m.created_at);
    const day = dayKey(at);
    let breakGroup = false;
    if (day !== lastDay) {
      rows.push({ kind: 'date', key: 'd' + day, day, at });
      lastDay = day;
      breakGroup = true;
    }
    if (!unreadPlaced && unreadAfterSeq !== null && m.seq > unreadAfterSeq && m.user_id !== me && !m.notice) {
      rows.push({ kind: 'unread', key: 'unread' });
      unreadPlaced = true;
      breakGroup = true;
    }
    // A notice stands alone: it neither continues a group nor starts one.
    const continued = !breakGroup && !m.deleted && !m.notice && m.user_id === lastUser && at - lastAt < GROUP_MS;
    rows.push({ kind: 'message', key: m.id, message: m, continued });
    lastUser = m.deleted || m.notice ? '' : m.user_id;
    lastAt = at;
  }
  for (const p of pending) {
    const day = dayKey(p.createdAt);
    let breakGroup = false;
    if (day !== lastDay) {
      rows.push({ kind: 'date', key: 'd' + day, day, at: p.createdAt });
      lastDay = day;
      breakGroup = true;
    }
    const continued = !breakGroup && lastUser === me && p.createdAt - lastAt < GROUP_MS;
    rows.push({ kind: 'pending', key: 'p' + p.clientMsgId, pending: p, continued });
    lastUser = me;
    lastAt = p.createdAt;
  }
  return rows;
}
