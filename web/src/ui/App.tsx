import { useEffect } from 'preact/hooks';
import { closePanel, maybeMarkRead, navigate, sendActivity, store } from '../lib/client';
import { cls } from '../lib/util';
import { useStore } from './common';
import { t } from '../i18n';
import { Admin } from './Admin';
import { Directory } from './Directory';
import { Conversation, Home } from './Conversation';
import { Login, Splash } from './Login';
import { Modals, Toasts } from './Modals';
import { Panel } from './Panel';
import { Sidebar } from './Sidebar';

/** Moves to the previous or next conversation in the sidebar's order. */
function stepChannel(dir: 1 | -1) {
  const items = [...document.querySelectorAll<HTMLElement>('.sidebar [data-channel-id]')];
  const s = store.get();
  const cur = s.route.name === 'channel' ? s.route.id : null;
  const i = items.findIndex((el) => el.dataset.channelId === cur);
  const next = items[(i + dir + items.length) % items.length];
  if (next?.dataset.channelId) navigate({ name: 'channel', id: next.dataset.channelId });
}

function useGlobalKeys() {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const s = store.get();
      if (s.phase !== 'ready') return;
      const mod = e.ctrlKey || e.metaKey;
      if (mod && !e.shiftKey && !e.altKey && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        store.set({ modal: s.modal?.kind === 'switcher' ? null : { kind: 'switcher' } });
        return;
      }
      if (mod && !e.altKey && (e.key === '/' || e.code === 'Slash')) {
        e.preventDefault();
        store.set({ modal: s.modal?.kind === 'shortcuts' ? null : { kind: 'shortcuts' } });
        return;
      }
      if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown') && !s.modal) {
        e.preventDefault();
        stepChannel(e.key === 'ArrowUp' ? -1 : 1);
        return;
      }
      if (e.key === 'Escape' && !e.defaultPrevented) {
        if (s.modal) {
          store.set({ modal: null });
        } else if (s.editing) {
          store.set({ editing: null });
        } else if (s.panel) {
          closePanel();
        } else if (s.route.name === 'channel') {
          // Slack's Esc: mark the conversation read.
          const id = s.route.id;
          store.set((st) => ({ unreadMarker: { ...st.unreadMarker, [id]: null } }));
          maybeMarkRead();
        }
      }
    };
    document.addEventListener('keydown', onKey);
    let last = 0;
    const onActivity = () => {
      const now = Date.now();
      if (now - last > 60_000) {
        last = now;
        sendActivity();
      }
    };
    document.addEventListener('pointerdown', onActivity);
    document.addEventListener('keydown', onActivity);
    return () => {
      document.removeEventListener('keydown', onKey);
      document.removeEventListener('pointerdown', onActivity);
      document.removeEventListener('keydown', onActivity);
    };
  }, []);
}

export function App() {
  const phase = useStore((s) => s.phase);
  if (phase === 'boot') return <Splash />;
  if (phase === 'login') return <Login />;
  return <Shell />;
}

function Shell() {
  const route = useStore((s) => s.route);
  const panel = useStore((s) => s.panel);
  useStore((s) => s.prefs);
  useGlobalKeys();
  const inConversation = route.name !== 'home';
  return (
    <div class={cls('app', inConversation ? 'show-main' : 'show-side', panel && 'has-panel')}>
      {route.name === 'channel' && (
        <a
          class="skip-link"
          href="#composer"
          onClick={(e) => {
            e.preventDefault();
            document.querySelector<HTMLTextAreaElement>('.conv .composer textarea')?.focus();
          }}
        >
          {t('a11y.skipToComposer')}
        </a>
      )}
      <Sidebar />
      <main class="main">
        {route.name === 'channel' ? (
          <Conversation id={route.id} />
        ) : route.name === 'admin' ? (
          <Admin />
        ) : route.name === 'directory' ? (
          <Directory />
        ) : (
          <Home />
        )}
      </main>
      {route.name === 'channel' && <Panel channelId={route.id} />}
      <Modals />
      <Toasts />
    </div>
  );
}
