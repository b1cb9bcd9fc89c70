// Unread and mention counters, kept live from events between authoritative REST summaries.
// They follow the server's rules (crates/store: unread = top-level, not deleted, by others,
// after the read position; mentions = messages after it that name the user or the channel).

import type { Channel, Message } from './types';

export function mentionsUser(m: Message, me: string): boolean {
  return m.mentions.user_ids.includes(me) || m.mentions.channel || m.mentions.here;
}

/**
 * Counts a newly created message. Idempotent: a message at or below the channel's `last_seq`
 * is already counted (by the summary or by an earlier event). `seen`: the user is looking at
 * the newest messages of the channel, so the message is read at once.
 */
export function countNewMessage(c: Channel, m: Message, me: string, seen: boolean): Channel {
  if (m.channel_id !== c.id || m.seq <= c.last_seq) return c;
  const next: Channel = { ...c, last_seq: m.seq };
  if (m.user_id === me) {
    // Posting advances the poster's read position (the server does the same).
    return { ...next, last_read_seq: m.seq, unread_count: 0, mention_count: 0 };
  }
  // Deleted messages and notices (someone joined, the topic changed) are not unread news.
  if (m.deleted || m.notice) return next;
  if (seen) {
    return { ...next, last_read_seq: m.seq, unread_count: 0, mention_count: 0 };
  }
  const topLevel = m.thread_root_id === null;
  return {
    ...next,
    unread_count: (c.unread_count ?? 0) + (topLevel ? 1 : 0),
    mention_count: (c.mention_count ?? 0) + (mentionsUser(m, me) ? 1 : 0),
  };
}

/**
 * Moves the read position. Returns the channel and whether the counters are now unknown
 * (the position moved to before the newest message: the summary must be fetched again).
 */
export function applyRead(c: Channel, seq: number): { channel: Channel; stale: boolean } {
  if (seq >= c.last_seq) {
    return { channel: { ...c, last_read_seq: seq, unread_count: 0, mention_count: 0 }, stale: false };
  }
  if (seq === c.last_read_seq) return { channel: c, stale: false };
  return { channel: { ...c, last_read_seq: seq }, stale: true };
}

/** Takes the descriptive fields of a channel from an event, keeping the viewer's counters. */
export function mergeChannelInfo(c: Channel, from: Channel): Channel {
  return {
    ...c,
    name: from.name,
    topic: from.topic,
    purpose: from.purpose,
    archived: from.archived,
    archived_at: from.archived_at,
    n_members: from.n_members,
    updated_at: from.updated_at,
  };
}

/** Whether a channel has something the user has not read. */
export function isUnread(c: Channel): boolean {
  return (c.unread_count ?? 0) > 0 || (c.mention_count ?? 0) > 0;
}

/** The count for the tab title: mentions everywhere plus unread direct messages. */
export function attentionCount(channels: Channel[]): number {
  let n = 0;
  for (const c of channels) {
    if (c.kind === 'dm' || c.kind === 'group_dm') n += Math.max(c.unread_count ?? 0, c.mention_count ?? 0);
    else n += c.mention_count ?? 0;
  }
  return n;
}
