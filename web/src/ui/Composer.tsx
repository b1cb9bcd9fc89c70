import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { loadCommands, runCommand, send, sendTyping, store, toast, typingKey } from '../lib/client';
import { ApiError } from '../lib/api';
import { errorText } from '../lib/errors';
import type { CommandSpecDto } from '../gen/wire';
import { searchEmoji } from '../lib/emoji';
import { lastOwnToEdit } from '../lib/timeline';
import type { Channel, User } from '../lib/types';
import { cls, displayName, matchScore } from '../lib/util';
import { t } from '../i18n';
import { UserAvatar, useStore } from './common';
import { Plus, Send, Smile } from './icons';
import { filesFrom, UploadTray, useUploads } from './Files';
import { autosize, EmojiPicker } from './Message';

const MAX_TEXT = 16_000;

function draftKey(me: string, channelId: string, root: string | null) {
  return `enclave.draft.${me}.${channelId}${root ? ':' + root : ''}`;
}

function loadDraft(key: string): string {
  try {
    return localStorage.getItem(key) ?? '';
  } catch {
    return '';
  }
}

function saveDraft(key: string, text: string) {
  // After sign-out nothing is written back (the composer unmounts after the session ended).
  if (!store.get().me) return;
  try {
    if (text) localStorage.setItem(key, text);
    else localStorage.removeItem(key);
  } catch {
    /* ignore */
  }
}

type Suggestion =
  | { kind: 'user'; user: User; insert: string }
  | { kind: 'group'; name: string; insert: string }
  | { kind: 'emoji'; name: string; char: string; insert: string }
  | { kind: 'command'; spec: CommandSpecDto; insert: string };

/** A command's description in the interface's language (built-ins are translated). */
export function commandDescription(spec: CommandSpecDto): string {
  if (!spec.builtin) return spec.description;
  const key = `cmd.desc.${spec.name}` as 'cmd.desc.me';
  const s = t(key);
  return s === key ? spec.description : s;
}

/** What to tell the person when a command was refused. */
export function commandErrorText(e: unknown, line: string): string {
  const name = /^\s*\/(\S+)/.exec(line)?.[1]?.toLowerCase() ?? '';
  if (e instanceof ApiError && e.code === 'command_not_found') return t('cmd.unknown', { name });
  if (e instanceof ApiError && e.code === 'invalid_field' && e.field === 'text') {
    const spec = store.get().commands?.find((c) => c.name === name);
    if (spec) return t('cmd.usage', { usage: `/${spec.name}${spec.usage ? ' ' + spec.usage : ''}` });
  }
  return errorText(e);
}

interface AutoState {
  start: number;
  end: number;
  items: Suggestion[];
  index: number;
}

const GROUPS = ['here', 'channel', 'all'];

function findToken(text: string, caret: number): { kind: 'mention' | 'emoji'; query: string; start: number } | null {
  const before = text.slice(0, caret);
  const m = /(^|[^A-Za-z0-9._@-])@([A-Za-z0-9._-]{0,32})$/.exec(before);
  if (m) return { kind: 'mention', query: m[2], start: caret - m[2].length - 1 };
  const e = /(^|\s):([a-z0-9_+-]{2,32})$/.exec(before);
  if (e) return { kind: 'emoji', query: e[2], start: caret - e[2].length - 1 };
  return null;
}

/** Whether a key event is the Enter that confirms an IME composition (never a send). */
export function isImeEnter(e: KeyboardEvent): boolean {
  return e.isComposing || e.keyCode === 229;
}

export function Composer({
  channel,
  threadRootId,
  placeholder,
  onEditLast,
}: {
  channel: Channel;
  threadRootId: string | null;
  placeholder: string;
  onEditLast?: () => boolean;
}) {
  const me = useStore((s) => s.me!);
  const members = useStore((s) => s.members[channel.id]);
  const users = useStore((s) => s.users);
  useStore((s) => s.prefs);
  const key = draftKey(me.id, channel.id, threadRootId);
  const [text, setText] = useState(() => loadDraft(key));
  const [auto, setAuto] = useState<AutoState | null>(null);
  const [picker, setPicker] = useState<DOMRect | null>(null);
  const ref = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const uploads = useUploads();
  const [dragging, setDragging] = useState(false);
  const keyRef = useRef(key);
  const textRef = useRef(text);
  textRef.current = text;

  // Switching conversations: save the old draft, load the new one.
  useLayoutEffect(() => {
    if (keyRef.current !== key) {
      saveDraft(keyRef.current, textRef.current);
      keyRef.current = key;
      setText(loadDraft(key));
      setAuto(null);
    }
  }, [key]);

  useEffect(() => {
    const id = setTimeout(() => saveDraft(key, text), 300);
    return () => clearTimeout(id);
  }, [key, text]);

  useEffect(() => () => saveDraft(keyRef.current, textRef.current), []);

  useLayoutEffect(() => {
    if (ref.current) autosize(ref.current);
  }, [text]);

  useEffect(() => {
    if (window.matchMedia('(hover: hover)').matches) ref.current?.focus();
  }, [key]);

  const candidates = (query: string): Suggestion[] => {
    const pool: User[] = [];
    const ids = members ?? channel.dm_user_ids ?? [];
    for (const id of ids) if (users[id] && users[id].active) pool.push(users[id]);
    if (pool.length === 0) for (const u of Object.values(users)) if (u.active) pool.push(u);
    const scored = pool
      .map((u) => ({ u, s: matchScore(query, u.username, u.display_name) }))
      .filter((x) => x.s >= 0)
      .sort((a, b) => a.s - b.s || a.u.username.localeCompare(b.u.username))
      .slice(0, 8)
      .map((x): Suggestion => ({ kind: 'user', user: x.u, insert: '@' + x.u.username + ' ' }));
    const direct = channel.kind === 'dm' || channel.kind === 'group_dm';
    const groups: Suggestion[] = direct
      ? []
      : GROUPS.filter((g) => g.startsWith(query.toLowerCase())).map((g) => ({ kind: 'group', name: g, insert: '@' + g + ' ' }));
    return [...scored, ...groups].slice(0, 9);
  };

  const refreshAuto = (value: string, caret: number) => {
    const cm = /^\/([A-Za-z0-9_-]{0,32})$/.exec(value.slice(0, caret));
    if (cm && caret === value.length) {
      const list = store.get().commands;
      // Looked up again as a command starts (an administrator may have added one).
      if (!list || cm[1] === '') {
        loadCommands(true).then(
          () => {
            const now = textRef.current;
            if (list === null || now !== value) refreshAuto(now, now.length);
          },
          () => {},
        );
        if (!list) return setAuto(null);
      }
      const q = cm[1].toLowerCase();
      const items: Suggestion[] = list
        .filter((c) => c.name.startsWith(q))
        .slice(0, 12)
        .map((c) => ({ kind: 'command', spec: c, insert: '/' + c.name + ' ' }));
      return setAuto(items.length ? { start: 0, end: caret, items, index: 0 } : null);
    }
    const tok = findToken(value, caret);
    if (!tok) return setAuto(null);
    const items: Suggestion[] =
      tok.kind === 'mention'
        ? candidates(tok.query)
        : searchEmoji(tok.query).map((e) => ({ kind: 'emoji', name: e.name, char: e.char, insert: e.char + ' ' }));
    setAuto(items.length ? { start: tok.start, end: caret, items, index: 0 } : null);
  };

  const apply = (sug: Suggestion) => {
    if (!auto) return;
    const next = text.slice(0, auto.start) + sug.insert + text.slice(auto.end);
    const caret = auto.start + sug.insert.length;
    setText(next);
    setAuto(null);
    requestAnimationFrame(() => {
      const el = ref.current;
      if (el) {
        el.focus();
        el.setSelectionRange(caret, caret);
      }
    });
  };

  const insertAtCaret = (s: string) => {
    const el = ref.current;
    const start = el?.selectionStart ?? text.length;
    const end = el?.selectionEnd ?? text.length;
    const next = text.slice(0, start) + s + text.slice(end);
    setText(next);
    requestAnimationFrame(() => {
      el?.focus();
      el?.setSelectionRange(start + s.length, start + s.length);
    });
  };

  const submit = () => {
    const value = text.replace(/^\s*\n/, '').replace(/\s+$/, '');
    if (uploads.busy) {
      toast(t('files.wait'));
      return;
    }
    const fileIds = uploads.ready;
    if (!value.trim() && fileIds.length === 0) return;
    if (fileIds.length === 0 && /^\s*\//.test(value)) {
      // A slash command (the server decides: `//x` and `/a/b` are posted as text).
      const line = value;
      setText('');
      saveDraft(key, '');
      setAuto(null);
      if (store.get().commands === null) void loadCommands().catch(() => {});
      runCommand(channel.id, line, threadRootId).catch((e) => {
        // Nothing happened: the line comes back to be corrected.
        if (!textRef.current) setText(line);
        toast(commandErrorText(e, line));
      });
      return;
    }
    if ([...value].length > MAX_TEXT) {
      toast(t('composer.tooLong', { n: MAX_TEXT }));
      return;
    }
    send(channel.id, value, threadRootId, fileIds);
    uploads.clear();
    setText('');
    saveDraft(key, '');
    setAuto(null);
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (auto && !isImeEnter(e)) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const n = auto.items.length;
        setAuto({ ...auto, index: (auto.index + (e.key === 'ArrowDown' ? 1 : n - 1)) % n });
        return;
      }
      const chosen = auto.items[auto.index];
      // Enter on a command typed out in full runs it (as Slack does); Tab still completes it.
      const typedOut = e.key === 'Enter' && chosen.kind === 'command' && text.trim().toLowerCase() === '/' + chosen.spec.name;
      if ((e.key === 'Enter' || e.key === 'Tab') && !typedOut) {
        e.preventDefault();
        apply(chosen);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        setAuto(null);
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.altKey) {
      // Never send on the Enter that confirms an IME composition (Chinese, Japanese input).
      if (isImeEnter(e)) return;
      e.preventDefault();
      submit();
      return;
    }
    if (e.key === 'ArrowUp' && text === '' && onEditLast) {
      if (onEditLast()) e.preventDefault();
    }
  };

  if (channel.archived) {
    return <div class="composer-archived">{t('composer.archived')}</div>;
  }

  return (
    <div
      class={cls('composer-wrap', dragging && 'dragging')}
      onDragOver={(e) => {
        if (e.dataTransfer?.types.includes('Files')) {
          e.preventDefault();
          setDragging(true);
        }
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        const files = filesFrom(e.dataTransfer);
        setDragging(false);
        if (files.length) {
          e.preventDefault();
          uploads.add(files);
        }
      }}
    >
      {dragging && <div class="drop-hint">{t('files.dropHere')}</div>}
      <UploadTray uploads={uploads.uploads} onRemove={uploads.remove} />
      {auto && (
        <div class="autocomplete" role="listbox" aria-label={t('composer.suggestions')}>
          {auto.items.map((s, i) => (
            <button
              key={i}
              role="option"
              aria-selected={i === auto.index}
              class={cls('ac-item', i === auto.index && 'active')}
              onMouseDown={(e) => {
                e.preventDefault();
                apply(s);
              }}
              onMouseEnter={() => setAuto({ ...auto, index: i })}
            >
              {s.kind === 'user' ? (
                <>
                  <UserAvatar userId={s.user.id} size={22} presence />
                  <span class="ac-name">{displayName(s.user)}</span>
                  <span class="muted">@{s.user.username}</span>
                </>
              ) : s.kind === 'command' ? (
                <>
                  <span class="ac-name">
                    /{s.spec.name}
                    {s.spec.usage && <span class="muted"> {s.spec.usage}</span>}
                  </span>
                  <span class="muted ac-desc">{commandDescription(s.spec)}</span>
                </>
              ) : s.kind === 'group' ? (
                <>
                  <span class="ac-group">@</span>
                  <span class="ac-name">@{s.name}</span>
                  <span class="muted">{t(`composer.group.${s.name}` as 'composer.group.here')}</span>
                </>
              ) : (
                <>
                  <span class="ac-emoji">{s.char}</span>
                  <span class="ac-name">:{s.name}:</span>
                </>
              )}
            </button>
          ))}
        </div>
      )}
      <div class="composer">
        <textarea
          ref={ref}
          rows={1}
          value={text}
          placeholder={placeholder}
          aria-label={placeholder}
          enterkeyhint="send"
          onInput={(e) => {
            const el = e.target as HTMLTextAreaElement;
            setText(el.value);
            if (el.value.trim()) sendTyping(channel.id, threadRootId);
            refreshAuto(el.value, el.selectionStart ?? el.value.length);
          }}
          onKeyDown={onKeyDown}
          onPaste={(e) => {
            const files = filesFrom(e.clipboardData);
            if (files.length) {
              e.preventDefault();
              uploads.add(files);
            }
          }}
          onBlur={() => setTimeout(() => setAuto(null), 150)}
          onClick={(e) => {
            const el = e.target as HTMLTextAreaElement;
            refreshAuto(el.value, el.selectionStart ?? 0);
          }}
        />
        <div class="composer-actions">
          <input
            ref={fileInput}
            type="file"
            multiple
            hidden
            onChange={(e) => {
              const el = e.target as HTMLInputElement;
              if (el.files) uploads.add(el.files);
              el.value = '';
            }}
          />
          <button class="icon-btn" onClick={() => fileInput.current?.click()} aria-label={t('files.attach')} title={t('files.attach')}>
            <Plus size={18} />
          </button>
          <button
            class="icon-btn"
            onClick={(e) => setPicker((e.currentTarget as HTMLElement).getBoundingClientRect())}
            aria-label={t('composer.emoji')}
            title={t('composer.emoji')}
          >
            <Smile size={18} />
          </button>
          <button class="send-btn" onClick={submit} disabled={!text.trim() && uploads.ready.length === 0} aria-label={t('composer.send')} title={t('composer.send')}>
            <Send size={16} />
          </button>
        </div>
      </div>
      <TypingLine channelId={channel.id} threadRootId={threadRootId} />
      {picker && (
        <EmojiPicker
          anchor={picker}
          onClose={() => setPicker(null)}
          onPick={(e) => {
            setPicker(null);
            insertAtCaret(e);
          }}
        />
      )}
    </div>
  );
}

function TypingLine({ channelId, threadRootId }: { channelId: string; threadRootId: string | null }) {
  const typing = useStore((s) => s.typing[typingKey(channelId, threadRootId)]);
  const users = useStore((s) => s.users);
  const now = Date.now();
  const ids = Object.entries(typing ?? {})
    .filter(([, until]) => until > now)
    .map(([id]) => id);
  let text = '';
  if (ids.length === 1) text = t('typing.one', { a: displayName(users[ids[0]]) });
  else if (ids.length === 2) text = t('typing.two', { a: displayName(users[ids[0]]), b: displayName(users[ids[1]]) });
  else if (ids.length > 2) text = t('typing.many');
  return (
    <div class="typing-line" aria-live="polite">
      {text && (
        <>
          <span class="typing-dots">
            <i />
            <i />
            <i />
          </span>
          {text}
        </>
      )}
      {!text && <span class="composer-hint">{t('composer.hint')}</span>}
    </div>
  );
}

export function editLastOwn(channelId: string, threadRootId: string | null): boolean {
  const s = store.get();
  const list = threadRootId ? (s.threads[threadRootId]?.replies ?? []) : (s.timelines[channelId]?.messages ?? []);
  const target = lastOwnToEdit(list, s.outbox, s.me?.id, channelId, threadRootId);
  if (!target) return false;
  if ('edit' in target) store.set({ editing: target.edit, editAfterSend: null });
  else store.set({ editAfterSend: target.afterSend });
  return true;
}
