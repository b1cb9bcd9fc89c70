import { describe, expect, it } from 'vitest';
import { noticeText } from '../src/lib/notices';
import { buildRows } from '../src/lib/timeline';
import { countNewMessage } from '../src/lib/unread';
import { setLang } from '../src/i18n';
import type { Channel, StoredMessage } from '../src/lib/types';

describe('notices', () => {
  it('are told in the interface language', () => {
    setLang('en');
    expect(noticeText('topic', 'Li Lei', 'Budget 2027')).toBe('Li Lei set the topic: Budget 2027');
    expect(noticeText('topic', 'Li Lei', '')).toBe('Li Lei cleared the topic.');
    expect(noticeText('purpose', 'Li Lei', 'Operations')).toBe('Li Lei set the purpose: Operations');
    setLang('zh-CN');
    expect(noticeText('purpose', '李雷', '')).toBe('李雷 清除了用途。');
    expect(noticeText('renamed', '李雷', '运维')).toBe('李雷 将频道重命名为 运维。');
    setLang('en');
  });

  const msg = (id: string, seq: number, user: string, notice?: 'topic'): StoredMessage =>
    ({
      id,
      channel_id: '1',
      seq,
      user_id: user,
      text: notice ? 'Budget' : 'hello',
      thread_root_id: null,
      created_at: new Date(2026, 11, 3, 10, 0, seq).toISOString(),
      edited_at: null,
      deleted: false,
      reply_count: 0,
      last_reply_at: null,
      pinned: false,
      reactions: [],
      mentions: { user_ids: [], channel: false, here: false },
      files: [],
      notice,
      v: 0,
    }) as unknown as StoredMessage;

  it('stand alone in the timeline: the author’s next message shows its name again', () => {
    const rows = buildRows([msg('1', 1, 'a', 'topic'), msg('2', 2, 'a'), msg('3', 3, 'a')], [], 'me', null);
    const continued = rows.filter((r) => r.kind === 'message').map((r) => (r as { continued: boolean }).continued);
    expect(continued).toEqual([false, false, true]);
  });

  it('are not unread news', () => {
    const c = { id: '1', last_seq: 0, last_read_seq: 0, unread_count: 0, mention_count: 0 } as unknown as Channel;
    expect(countNewMessage(c, msg('1', 1, 'other', 'topic'), 'me', false).unread_count).toBe(0);
    expect(countNewMessage(c, msg('2', 1, 'other'), 'me', false).unread_count).toBe(1);
  });
});
