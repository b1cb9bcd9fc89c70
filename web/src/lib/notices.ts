// Notices: messages about the conversation itself (its topic, purpose or name changed), told in
// the interface's language. The server sends the kind and the new topic, purpose or name as text.

import { t } from '../i18n';
import type { NoticeKind } from '../gen/wire';

/** The sentence of a notice: `who` caused it, `text` is the new value. */
export function noticeText(kind: NoticeKind, who: string, text: string): string {
  switch (kind) {
    case 'topic':
      return text ? t('notice.topic', { who, text }) : t('notice.topicCleared', { who });
    case 'purpose':
      return text ? t('notice.purpose', { who, text }) : t('notice.purposeCleared', { who });
    case 'renamed':
      return t('notice.renamed', { who, text });
  }
}
