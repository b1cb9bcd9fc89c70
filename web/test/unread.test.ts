import { describe, expect, it } from 'vitest';
import type { Channel, Message } from '../src/lib/types';
import { applyRead, attentionCount, countNewMessage, mergeChannelInfo } from '../src/lib/unread';

const channel = (patch: Partial<Channel> = {}): Channel => ({
  id: '1',
  name: 'general',
  kind: 'public',
  topic: '',
  purpose: '',
  creator_id: null,
  n_members: 3,
  last_seq: 10,
  archived: false,
  archived_at: null,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
  last_read_seq: 10,
  unread_count: 0,
  mention_count: 0,
  ...patch,
});

const message = (seq: number, patch: Partial<Message> = {}): Message => ({
  id: String(seq),
  channel_id: '1',
  seq,
  user_id: 'other',
  text: 'hi',
  thread_root_id: null,
  client_msg_id: null,
  created_at: '2026-01-01T00:00:00Z',
  edited_at: null,
  deleted: false,
  deleted_at: null,
  reply_count: 0,
  last_reply_at: null,
  pinned: false,
  pinned_at: null,
  pinned_by: null,
  reactions: [],
  mentions: { user_ids: [], channel: false, here: false },
  ...patch,
});

describe('countNewMessage', () => {
  it('counts each new message once', () => {
    let c = channel();
    c = countNewMessage(c, message(11), 'me', false);
    c = countNewMessage(c, message(11), 'me', false);
    c = countNewMessage(c, message(9), 'me', false);
    expect(c.unread_count).toBe(1);
    expect(c.last_seq).toBe(11);
  });

  it('counts mentions, including in thread replies, but replies are not unread', () => {
    let c = channel();
    c = countNewMessage(c, message(11, { mentions: { user_ids: ['me'], channel: false, here: false } }), 'me', false);
    c = countNewMessage(c, message(12, { thread_root_id: '5', mentions: { user_ids: ['me'], channel: false, here: false } }), 'me', false);
    c = countNewMessage(c, message(13, { thread_root_id: '5' }), 'me', false);
    c = countNewMessage(c, message(14, { mentions: { user_ids: [], channel: true, here: false } }), 'me', false);
    expect(c.unread_count).toBe(2);
    expect(c.mention_count).toBe(3);
  });

  it('own messages and messages seen on screen are read', () => {
    let c = channel({ unread_count: 4, mention_count: 1, last_read_seq: 6 });
    c = countNewMessage(c, message(11, { user_id: 'me' }), 'me', false);
    expect(c).toMatchObject({ unread_count: 0, mention_count: 0, last_read_seq: 11 });
    c = countNewMessage(c, message(12), 'me', true);
    expect(c).toMatchObject({ unread_count: 0, last_read_seq: 12 });
  });
});

describe('read state', () => {
  it('reading to the end clears counts; reading back needs a fresh summary', () => {
    const c = channel({ last_seq: 20, last_read_seq: 10, unread_count: 5, mention_count: 1 });
    expect(applyRead(c, 20)).toEqual({ channel: { ...c, last_read_seq: 20, unread_count: 0, mention_count: 0 }, stale: false });
    expect(applyRead(c, 15).stale).toBe(true);
  });

  it('channel events keep the viewer counters and last_seq', () => {
    const c = channel({ last_seq: 10, unread_count: 2 });
    const merged = mergeChannelInfo(c, channel({ topic: 'new', last_seq: 99, unread_count: undefined }));
    expect(merged).toMatchObject({ topic: 'new', last_seq: 10, unread_count: 2 });
  });

  it('the title counts mentions and unread direct messages', () => {
    expect(
      attentionCount([
        channel({ unread_count: 5, mention_count: 1 }),
        channel({ id: '2', kind: 'dm', unread_count: 3, mention_count: 0 }),
      ]),
    ).toBe(4);
  });
});
