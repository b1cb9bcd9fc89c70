// Notices: messages about the conversation itself (someone joined, left, was added or removed;
// the topic, purpose or name changed), told in the interface's language. The server sends the
// kind and, for a person added or removed, their id, or the new topic, purpose or name as text.

import { t } from '../i18n';
import type { NoticeKind } from '../gen/wire';

/** The sentence of a notice: `who` caused it, `subject` is the person added or removed. */
export function noticeText(kind: NoticeKind, who: string, subject: string, text: string): string {
  switch (kind) {
    case 'joined':
      return t('notice.joined', { who });
    case 'left':
      return t('notice.left', { who });
    case 'added':
      return t('notice.added', { who, subject });
    case 'removed':
      return t('notice.removed', { who, subject });
    case 'topic':
      return text ? t('notice.topic', { who, text }) : t('notice.topicCleared', { who });
    case 'purpose':
      return text ? t('notice.purpose', { who, text }) : t('notice.purposeCleared', { who });
    case 'renamed':
      return t('notice.renamed', { who, text });
  }
}
