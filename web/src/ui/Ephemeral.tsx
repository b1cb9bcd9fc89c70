// Texts shown to this person only (slash commands' answers and integrations' follow-ups),
// under the conversation or thread they belong to, until dismissed.

import { dismissEphemeral } from '../lib/client';
import { Markdown } from '../lib/markdown-render';
import { formatTime } from '../lib/util';
import { t } from '../i18n';
import { useStore } from './common';
import { commandDescription } from './Composer';
import { X } from './icons';
import { useRenderContext } from './Message';

export function Ephemerals({ channelId, threadRootId }: { channelId: string; threadRootId: string | null }) {
  const all = useStore((s) => s.ephemerals);
  useStore((s) => s.prefs);
  const ctx = useRenderContext();
  const list = all.filter((e) => e.channelId === channelId && e.threadRootId === threadRootId);
  if (list.length === 0) return null;
  return (
    <>
      {list.map((e) => (
        <div key={e.id} class="msg msg-ephemeral" role="status" data-ephemeral={e.id}>
          <div class="msg-body">
            <div class="msg-head">
              <span class="ephemeral-label">{t('cmd.onlyYou')}</span>
              <time>{formatTime(e.at)}</time>
              <button class="icon-btn ephemeral-close" onClick={() => dismissEphemeral(e.id)} aria-label={t('cmd.dismiss')} title={t('cmd.dismiss')}>
                <X size={14} />
              </button>
            </div>
            {e.help ? (
              <div class="msg-text">
                <div>{t('cmd.helpTitle')}</div>
                <ul class="command-help">
                  {e.help.map((c) => (
                    <li key={c.name}>
                      <code>
                        /{c.name}
                        {c.usage ? ' ' + c.usage : ''}
                      </code>{' '}
                      — {commandDescription(c)}
                    </li>
                  ))}
                </ul>
              </div>
            ) : (
              <div class="msg-text">
                <Markdown text={e.text} ctx={ctx} />
              </div>
            )}
          </div>
        </div>
      ))}
    </>
  );
}
