import { describe, expect, it } from 'vitest';
import {
  buildRows,
  confirmPending,
  lastOwnToEdit,
  mergeMessages,
  pendingFor,
  stored,
  type Pending,
} from '../src/lib/timeline';
import type { Message } from '../src/lib/types';

function msg(seq: number, patch: Partial<Message> = {}): Message {
  return {
    id: String(1000 + seq),
    channel_id: '1',
    seq,
    user_id: '7',
    text: `m${seq}`,
    thread_root_id: null,
    client_msg_id: null,
    created_at: new Date(Date.UTC(2026, 0, 5, 10, seq)).toISOString(),
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
  };
}

const seqs = (l: { seq: number }[]) => l.map((m) => m.seq);

describe('mergeMessages', () => {
  it('orders by seq and drops duplicates', () => {
    const a = [3, 1, 2].map((s) => stored(msg(s), 1));
    const merged = mergeMessages([], a);
    expect(seqs(merged)).toEqual([1, 2, 3]);
    const again = mergeMessages(merged, [stored(msg(2), 1), stored(msg(4), 2), stored(msg(4), 2)]);
    expect(seqs(again)).toEqual([1, 2, 3, 4]);
    expect(new Set(again.map((m) => m.id)).size).toBe(4);
  });

  it('joins an older page in front of live messages', () => {
    const live = [10, 11].map((s) => stored(msg(s), 50));
    const older = [7, 8, 9].map((s) => stored(msg(s), 40));
    expect(seqs(mergeMessages(live, older))).toEqual([7, 8, 9, 10, 11]);
  });

  it('keeps a newer version over an older page (an edit is not undone)', () => {
    const edited = stored(msg(5, { text: 'edited', edited_at: '2026-01-05T10:06:00Z' }), 30);
    const stalePage = stored(msg(5), 20);
    const out = mergeMessages([edited], [stalePage]);
    expect(out[0].text).toBe('edited');
    const newer = stored(msg(5, { text: 'edited twice', edited_at: '2026-01-05T10:07:00Z' }), 31);
    expect(mergeMessages(out, [newer])[0].text).toBe('edited twice');
  });

  it('applies tombstones and reaction changes', () => {
    const base = [stored(msg(1), 1), stored(msg(2), 1)];
    const reacted = mergeMessages(base, [
      stored(msg(2, { reactions: [{ emoji: '👍', count: 1, user_ids: ['8'] }] }), 2),
    ]);
    expect(reacted[1].reactions[0].count).toBe(1);
    const deleted = mergeMessages(reacted, [stored(msg(2, { deleted: true, text: '' }), 3)]);
    expect(deleted[1].deleted).toBe(true);
    expect(deleted).toHaveLength(2);
  });

  it('returns the same array when nothing changed', () => {
    const base = [stored(msg(1), 5)];
    expect(mergeMessages(base, [stored(msg(1), 4)])).toBe(base);
    expect(mergeMessages(base, [])).toBe(base);
  });
});

describe('pending sends', () => {
  const p = (id: string, channelId = '1', root: string | null = null): Pending => ({
    clientMsgId: id,
    channelId,
    threadRootId: root,
    text: 'x',
    createdAt: Date.UTC(2026, 0, 5, 11),
    status: 'sending',
    attempts: 0,
  });

  it('a confirmation removes exactly its pending send', () => {
    const box = [p('a'), p('b'), p('c', '2')];
    const out = confirmPending(box, msg(9, { client_msg_id: 'b', user_id: 'me' }), 'me');
    expect(out.map((x) => x.clientMsgId)).toEqual(['a', 'c']);
    // Someone else's message with the same client id is not ours.
    expect(confirmPending(box, msg(9, { client_msg_id: 'a', user_id: 'other' }), 'me')).toBe(box);
    // A repeated confirmation changes nothing.
    expect(confirmPending(out, msg(9, { client_msg_id: 'b', user_id: 'me' }), 'me')).toBe(out);
  });

  it('a pending send already confirmed in the list is not shown twice', () => {
    const box = [p('a'), p('b'), p('t', '1', '100')];
    const confirmed = [msg(3, { client_msg_id: 'a', user_id: 'me' })];
    expect(pendingFor(box, '1', null, confirmed).map((x) => x.clientMsgId)).toEqual(['b']);
    expect(pendingFor(box, '1', '100', []).map((x) => x.clientMsgId)).toEqual(['t']);
  });

  it('Up edits the newest own message, and waits for it while it is still being sent', () => {
    const list = [msg(1, { user_id: 'me' }), msg(2, { user_id: 'other' })];
    expect(lastOwnToEdit(list, [], 'me', '1', null)).toEqual({ edit: '1001' });
    // Just sent, not yet confirmed: never the older message.
    expect(lastOwnToEdit(list, [p('new')], 'me', '1', null)).toEqual({ afterSend: 'new' });
    // Confirmed already (the list holds it): edit it.
    const landed = [...list, msg(3, { user_id: 'me', client_msg_id: 'new' })];
    expect(lastOwnToEdit(landed, [p('new')], 'me', '1', null)).toEqual({ edit: '1003' });
    // A failed send cannot be edited on the server; a send in another conversation does not count.
    expect(lastOwnToEdit(list, [{ ...p('x'), status: 'failed' }, p('y', '2')], 'me', '1', null)).toEqual({
      edit: '1001',
    });
    expect(lastOwnToEdit([msg(1, { user_id: 'me', deleted: true })], [], 'me', '1', null)).toBeNull();
  });
});

describe('buildRows', () => {
  it('groups, separates days and places the new-messages line', () => {
    const list = [
      stored(msg(1, { created_at: '2026-01-04T10:00:00Z' }), 1),
      stored(msg(2, { created_at: '2026-01-05T10:00:00Z' }), 1),
      stored(msg(3, { created_at: '2026-01-05T10:01:00Z' }), 1),
      stored(msg(4, { created_at: '2026-01-05T10:02:00Z', user_id: 'me' }), 1),
      stored(msg(5, { created_at: '2026-01-05T10:03:00Z', user_id: '8' }), 1),
    ];
    const rows = buildRows(list, [], 'me', 3);
    const kinds = rows.map((r) => (r.kind === 'message' ? `m${r.message.seq}${r.continued ? 'c' : ''}` : r.kind));
    // The line goes before the first message by someone else after seq 3 (seq 4 is mine).
    expect(kinds).toEqual(['date', 'm1', 'date', 'm2', 'm3c', 'm4', 'unread', 'm5']);
  });

  it('hides deleted messages unless replies hang off them', () => {
    const list = [
      stored(msg(1, { deleted: true, text: '' }), 1),
      stored(msg(2, { deleted: true, text: '', reply_count: 2 }), 1),
      stored(msg(3), 1),
    ];
    const ids = buildRows(list, [], 'me', null)
      .filter((r) => r.kind === 'message')
      .map((r) => (r.kind === 'message' ? r.message.seq : 0));
    expect(ids).toEqual([2, 3]);
  });
});
