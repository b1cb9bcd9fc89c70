// The application state: one immutable object, replaced on every change, and a hook that
// re-renders a component when the slice it selects changes. Notifications are batched per
// microtask so a burst of events renders once.

import { useEffect, useReducer, useRef } from 'preact/hooks';
import type { Channel, Presence, StoredMessage, User } from './types';
import type { Pending } from './timeline';
import type { CommandSpecDto } from '../gen/wire';

export interface Timeline {
  /** Top-level messages, ascending by seq, a contiguous range ending at the newest. */
  messages: StoredMessage[];
  hasMoreBefore: boolean;
  loading: boolean;
  loaded: boolean;
  error?: string;
}

export interface ThreadView {
  rootId: string;
  channelId: string | null;
  root: StoredMessage | null;
  replies: StoredMessage[];
  loading: boolean;
  error?: string;
}

export type Route =
  | { name: 'home' }
  | { name: 'channel'; id: string; thread?: string }
  | { name: 'admin' }
  | { name: 'directory' };

export type Panel = { kind: 'thread'; rootId: string } | { kind: 'pins' } | { kind: 'members' } | null;

/** The tabs of the settings dialog. */
export type SettingsTab = 'profile' | 'prefs' | 'security' | 'sessions' | 'tokens' | 'apps';

export type Modal =
  | { kind: 'switcher' }
  | { kind: 'browse' }
  | { kind: 'create' }
  | { kind: 'dm' }
  | { kind: 'people' }
  | { kind: 'settings'; tab?: SettingsTab }
  | { kind: 'profile'; userId: string }
  | { kind: 'channelInfo' }
  | { kind: 'shortcuts' }
  | { kind: 'confirm'; title: string; body: string; action: string; danger?: boolean; onConfirm: () => void }
  | null;

export type ConnState = 'connecting' | 'online' | 'offline';

export interface Prefs {
  theme: 'system' | 'light' | 'dark';
  lang: 'auto' | 'en' | 'zh-CN';
  notify: boolean;
}

export interface Toast {
  id: number;
  text: string;
  kind: 'error' | 'info';
}

export interface AppState {
  phase: 'boot' | 'login' | 'ready';
  needsSetup: boolean;
  me: User | null;
  users: Record<string, User>;
  /** Lower-case username → user id. */
  byUsername: Record<string, string>;
  channels: Record<string, Channel>;
  channelsLoaded: boolean;
  timelines: Record<string, Timeline>;
  threads: Record<string, ThreadView>;
  pins: Record<string, StoredMessage[] | undefined>;
  members: Record<string, string[] | undefined>;
  /** Typing users by conversation key (`channel` or `channel:root`), with expiry times. */
  typing: Record<string, Record<string, number>>;
  presence: Record<string, Presence>;
  conn: ConnState;
  /** A socket has been open at least once this session. */
  everConnected: boolean;
  outbox: Pending[];
  route: Route;
  panel: Panel;
  modal: Modal;
  prefs: Prefs;
  toasts: Toast[];
  /** Per channel: the read position when it was opened, for the "new messages" line. */
  unreadMarker: Record<string, number | null>;
  /** Message id being edited inline. */
  editing: string | null;
  /** A send still in the outbox whose message the editor opens on once confirmed (Up pressed early). */
  editAfterSend: string | null;
  /** Message to scroll to and highlight once. */
  focusMessage: { channelId: string; id: string; at: number } | null;
  /** Per channel: the time of the newest message seen (sorts direct conversations). */
  activity: Record<string, number>;
  /** Conversations opened by link that one is not a member of: a public channel to preview
   * and join, or `missing` (no such channel, or one this user may not see). */
  outside: Record<string, Channel | 'missing'>;
  /** Texts shown to this person only (slash commands' answers), newest last; kept until
   * dismissed or the page reloads. */
  ephemerals: Ephemeral[];
  /** The commands one may type (`GET /api/v1/commands`), loaded on first use. */
  commands: CommandSpecDto[] | null;
}

/** A text for this person only, in a conversation (or a thread of it). */
export interface Ephemeral {
  id: number;
  channelId: string;
  threadRootId: string | null;
  /** Markdown to show; or the commands list for `/help`. */
  text: string;
  help?: CommandSpecDto[];
  at: number;
}

export function initialState(prefs: Prefs): AppState {
  return {
    phase: 'boot',
    needsSetup: false,
    me: null,
    users: {},
    byUsername: {},
    channels: {},
    channelsLoaded: false,
    timelines: {},
    threads: {},
    pins: {},
    members: {},
    typing: {},
    presence: {},
    conn: 'connecting',
    everConnected: false,
    outbox: [],
    route: { name: 'home' },
    outside: {},
    panel: null,
    modal: null,
    prefs,
    toasts: [],
    unreadMarker: {},
    editing: null,
    editAfterSend: null,
    focusMessage: null,
    activity: {},
    ephemerals: [],
    commands: null,
  };
}

type Listener = () => void;

export class Store {
  private state: AppState;
  private listeners = new Set<Listener>();
  private scheduled = false;

  constructor(initial: AppState) {
    this.state = initial;
  }

  get(): AppState {
    return this.state;
  }

  set(patch: Partial<AppState> | ((s: AppState) => Partial<AppState>)) {
    const p = typeof patch === 'function' ? patch(this.state) : patch;
    this.state = { ...this.state, ...p };
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        for (const l of [...this.listeners]) l();
      });
    }
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

/**
 * Subscribes a selection to the store and calls `changed` whenever it no longer equals what was
 * rendered. It also looks once at once: the store may have changed between the render and this
 * subscription (effects run after the next frame, and a fast answer can land in between; the boot
 * page then waited forever on the splash, since no later change came to wake it).
 */
export function watchSelect<T>(
  store: Store,
  ref: { current: { select: (s: AppState) => T; value: T } },
  changed: () => void,
): () => void {
  const check = () => {
    let next: T;
    try {
      next = ref.current.select(store.get());
    } catch {
      // The slice no longer exists (say, after logout): re-render; the parent unmounts us.
      changed();
      return;
    }
    if (!Object.is(next, ref.current.value)) changed();
  };
  const unsubscribe = store.subscribe(check);
  check();
  return unsubscribe;
}

/** Subscribes a component to a slice of the store; it re-renders when the slice changes. */
export function useSelect<T>(store: Store, select: (s: AppState) => T): T {
  const [, force] = useReducer((n: number) => n + 1, 0);
  const value = select(store.get());
  const ref = useRef({ select, value });
  ref.current.select = select;
  ref.current.value = value;
  useEffect(() => watchSelect(store, ref, () => force(0)), [store]);
  return value;
}
