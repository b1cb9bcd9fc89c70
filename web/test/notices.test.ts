import { describe, expect, it } from 'vitest';
import { noticeText } from '../src/lib/notices';
import { buildRows } from '../src/lib/timeline';
import { countNewMessage } from '../src/lib/unread';
import { setLang } from '../src/i18n';
import type { Channel, StoredMessage } from '../src/lib/types';

describe('notices', () => {
  it('are told in the interface language', () => {
    setLang('en');
    expect(noticeText('joined', 'Li Lei', '', '')).toBe('Li Lei joined the channel.');
    expect(noticeText('added', 'Li Lei', 'Han Meimei', '3')).toBe('Li Lei added Han Meimei to the channel.');
    expect(noticeText('topic', 'Li Lei', '', 'Budget 2027')).toBe('Li Lei set the topic: Budget 2027');
    expect(noticeText('topic', 'Li Lei', '', '')).toBe('Li Lei cleared the topic.');
    setLang('zh-CN');
    expect(noticeText('left', '李雷', '', '')).toBe('李雷 退出了频道。');
    expect(noticeText('removed', '李雷', '韩梅梅', '3')).toBe('李雷 将 韩梅梅 移出了频道。');
    expect(noticeText('renamed', '李雷', '', '运维')).toBe('李雷 将频道重命名为 运维。');
    setLang('en');
  });

  const msg = (id: string, seq: number, user: string, notice?: 'joined'): StoredMessage =>
    ({
      id,
      channel_id: '1',
      seq,
      user_id: user,
      text: notice ? '' : 'hello',
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
    const rows = buildRows([msg('1', 1, 'a', 'joined'), msg('2', 2, 'a'), msg('3', 3, 'a')], [], 'me', null);
    const continued = rows.filter((r) => r.kind === 'message').map((r) => (r as { continued: boolean }).continued);
    expect(continued).toEqual([false, false, true]);
  });

  it('are not unread news', () => {
    const c = { id: '1', last_seq: 0, last_read_seq: 0, unread_count: 0, mention_count: 0 } as unknown as Channel;
    expect(countNewMessage(c, msg('1', 1, 'other', 'joined'), 'me', false).unread_count).toBe(0);
    expect(countNewMessage(c, msg('2', 1, 'other'), 'me', false).unread_count).toBe(1);
  });
});
