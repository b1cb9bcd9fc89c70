// The client's logic: session start and end, loading state over REST, applying real-time
// events, the outbox of pending sends, read state, typing, presence, notifications and
// preferences. Components call these functions and read the store; nothing here renders.

import { api, ApiError, isTransient, setUnauthenticatedHandler } from './api';
import { errorText, sendLimitedText, rateLimitWait } from './errors';
import { Realtime } from './realtime';
import { parseRoute, routePath } from './router';
import { initialState, Store, type Ephemeral, type Modal, type Panel, type Prefs, type Route, type Timeline } from './store';
import {
  confirmPending,
  mergeMessages,
  newClientMsgId,
  stored,
  type Pending,
} from './timeline';
import type { Channel, EventFrame, Message, Presence, ServerFrame, StoredMessage, User } from './types';
import type { CommandSpecDto, SecondFactorChallengeDto } from '../gen/wire';
import { applyRead, attentionCount, countNewMessage, mentionsUser, mergeChannelInfo } from './unread';
import { detectLang, setLang, t, type Lang } from '../i18n';
import { plainText } from './markdown';
import { channelLabel } from './util';
import { clearUserStorage } from './signout';

// ---------------------------------------------------------------------------------------------
// Preferences

const PREFS_KEY = 'enclave.prefs';

const DEFAULT_PREFS: Prefs = { theme: 'system', lang: 'auto', notify: true };

function loadPrefs(): Prefs {
  const d: Prefs = DEFAULT_PREFS;
  try {
    const raw = localStorage.getItem(PREFS_KEY);
    if (raw) return { ...d, ...JSON.parse(raw) };
  } catch {
    /* ignore */
  }
  return d;
}

export const store = new Store(initialState(loadPrefs()));

export function effectiveLang(p: Prefs = store.get().prefs): Lang {
  return p.lang === 'auto' ? detectLang(navigator.languages ?? [navigator.language]) : p.lang;
}

export function applyPrefs() {
  const p = store.get().prefs;
  setLang(effectiveLang(p));
  const root = document.documentElement;
  if (p.theme === 'system') root.removeAttribute('data-theme');
  else root.setAttribute('data-theme', p.theme);
}

export function setPrefs(patch: Partial<Prefs>) {
  const prefs = { ...store.get().prefs, ...patch };
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify(prefs));
  } catch {
    /* ignore */
  }
  store.set({ prefs });
  applyPrefs();
  // Strings are read at render time: re-render everything.
  store.set({});
}

// ---------------------------------------------------------------------------------------------
// Small helpers

let toastSeq = 0;
export function toast(text: string, kind: 'error' | 'info' = 'error') {
  const id = ++toastSeq;
  store.set((s) => ({ toasts: [...s.toasts.slice(-3), { id, text, kind }] }));
  setTimeout(() => store.set((s) => ({ toasts: s.toasts.filter((x) => x.id !== id) })), kind === 'error' ? 6000 : 3500);
}

export { errorText };

export function reportError(e: unknown) {
  toast(errorText(e), 'error');
}

const rt = new Realtime({
  status: (conn) => {
    store.set((s) => ({ conn, everConnected: s.everConnected || conn === 'online' }));
    if (conn === 'online') wakeOutbox();
  },
  hello: (outcome) => void onHello(outcome),
  event: (f) => onEvent(f),
  ephemeral: (f) => onEphemeral(f),
  revoked: () => void endSession(true),
});

/** The position REST answers are at least as new as. */
function pos(): number {
  return rt.tracker.position ?? 0;
}

/** What the UI tells the logic about the conversation on screen. */
export const view = {
  /** The message list is scrolled to its end. */
  atBottom: true,
};

function visible(): boolean {
  return typeof document === 'undefined' || document.visibilityState === 'visible';
}

function currentChannelId(): string | null {
  const r = store.get().route;
  return r.name === 'channel' ? r.id : null;
}

/** The user is looking at the newest messages of this channel. */
function seeing(channelId: string): boolean {
  return currentChannelId() === channelId && visible() && view.atBottom && store.get().modal?.kind !== 'switcher';
}

// ---------------------------------------------------------------------------------------------
// Users

function indexUsers(users: Record<string, User>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const u of Object.values(users)) out[u.username.toLowerCase()] = u.id;
  return out;
}

export function addUsers(list: User[]) {
  if (list.length === 0) return;
  store.set((s) => {
    const users = { ...s.users };
    for (const u of list) {
      const old = users[u.id];
      users[u.id] = old && old.email && !u.email ? { ...u, email: old.email } : u;
    }
    const me = s.me && users[s.me.id] ? { ...users[s.me.id], email: users[s.me.id].email ?? s.me.email } : s.me;
    return { users, byUsername: indexUsers(users), me };
  });
  schedulePresence();
}

const wanted = new Set<string>();
let wantTimer: ReturnType<typeof setTimeout> | null = null;

/** Fetches users the client does not know yet (batched). */
export function ensureUsers(ids: Iterable<string>) {
  const users = store.get().users;
  for (const id of ids) if (id && !users[id]) wanted.add(id);
  if (wanted.size === 0 || wantTimer) return;
  wantTimer = setTimeout(async () => {
    wantTimer = null;
    const ids = [...wanted];
    wanted.clear();
    const got: User[] = [];
    await Promise.all(
      ids.map((id) =>
        api.user(id).then(
          (u) => got.push(u),
          () => {},
        ),
      ),
    );
    addUsers(got);
  }, 30);
}

async function loadUsers() {
  let after: string | undefined;
  for (let page = 0; page < 10; page++) {
    const list = await api.users({ after, limit: 200 });
    addUsers(list);
    if (list.length < 200) break;
    after = list[list.length - 1].username;
  }
}

// ---------------------------------------------------------------------------------------------
// Session

const OUTBOX_PREFIX = 'enclave.outbox.';

function saveOutbox() {
  const s = store.get();
  if (!s.me) return;
  try {
    localStorage.setItem(OUTBOX_PREFIX + s.me.id, JSON.stringify(s.outbox));
  } catch {
    /* ignore */
  }
}

function loadOutbox(userId: string): Pending[] {
  try {
    const raw = localStorage.getItem(OUTBOX_PREFIX + userId);
    if (!raw) return [];
    const list = JSON.parse(raw) as Pending[];
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

const ACTIVITY_PREFIX = 'enclave.activity.';
let activityTimer: ReturnType<typeof setTimeout> | null = null;

/** Records that a conversation had a message at `at` (for sorting direct conversations). */
function bumpActivity(channelId: string, at: number) {
  const cur = store.get().activity[channelId] ?? 0;
  if (at <= cur || !Number.isFinite(at)) return;
  store.set((s) => ({ activity: { ...s.activity, [channelId]: at } }));
  if (!activityTimer) {
    activityTimer = setTimeout(() => {
      activityTimer = null;
      const s = store.get();
      if (!s.me) return;
      try {
        localStorage.setItem(ACTIVITY_PREFIX + s.me.id, JSON.stringify(s.activity));
      } catch {
        /* ignore */
      }
    }, 1000);
  }
}

function loadActivity(userId: string): Record<string, number> {
  try {
    return JSON.parse(localStorage.getItem(ACTIVITY_PREFIX + userId) ?? '{}') ?? {};
  } catch {
    return {};
  }
}

let bootRetry: ReturnType<typeof setTimeout> | null = null;

export async function boot() {
  applyPrefs();
  setUnauthenticatedHandler(() => void endSession(true));
  window.addEventListener('popstate', () => setRoute(parseRoute(location.pathname), false));
  document.addEventListener('visibilitychange', () => {
    if (visible()) maybeMarkRead();
  });
  store.subscribe(updateTitle);
  await tryBoot();
}

/** Where the last single sign-on came from (to end the provider's session at sign-out). */
const SSO_PROVIDER_KEY = 'enclave.sso.provider';
/** An error code the single sign-on callback sent the browser back with, for the login page. */
export let ssoError: string | null = null;
/** The second-factor challenge a single sign-on ended with, for the login page (taken once). */
let ssoChallenge: SecondFactorChallengeDto | null = null;
export function takeSsoChallenge(): SecondFactorChallengeDto | null {
  const c = ssoChallenge;
  ssoChallenge = null;
  return c;
}

/**
 * The single sign-on callback sends the browser to `/#sso_code=CODE&sso_provider=ID` (or
 * `#sso_error=CODE`): the fragment never reaches a server log. The code is traded once for a
 * session; the fragment is removed from the address bar first.
 */
export function takeSsoFragment(hash: string): { code?: string; provider?: string; error?: string } {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  return {
    code: p.get('sso_code') ?? undefined,
    provider: p.get('sso_provider') ?? undefined,
    error: p.get('sso_error') ?? undefined,
  };
}

async function finishSso(): Promise<boolean> {
  const f = takeSsoFragment(location.hash);
  if (!f.code && !f.error) return false;
  history.replaceState(null, '', location.pathname + location.search);
  if (f.error) {
    ssoError = f.error;
    return false;
  }
  try {
    const r = await api.ssoExchange(f.code!);
    if (f.provider) localStorage.setItem(SSO_PROVIDER_KEY, f.provider);
    if ('second_factor' in r) {
      // The account has a second factor: the login page asks for it.
      ssoChallenge = r.second_factor;
      return false;
    }
    await startSession(r.user);
    return true;
  } catch (e) {
    ssoError = e instanceof ApiError ? e.code : 'sso_failed';
    return false;
  }
}

/** Set while this browser holds a session: a visit without it goes straight to the login page
 * (asking the server would only answer 401, logged in the console as an error). */
const SIGNED_IN_KEY = 'enclave.signedIn';

function markSignedIn(on: boolean) {
  try {
    if (on) localStorage.setItem(SIGNED_IN_KEY, '1');
    else localStorage.removeItem(SIGNED_IN_KEY);
  } catch {
    /* storage unavailable */
  }
}

function maybeSignedIn(): boolean {
  try {
    return localStorage.getItem(SIGNED_IN_KEY) !== null;
  } catch {
    return true;
  }
}

async function tryBoot() {
  try {
    if (await finishSso()) return;
    if (!maybeSignedIn()) {
      const setup = await api.setup();
      store.set({ phase: 'login', needsSetup: setup.needs_setup });
      return;
    }
    const me = await api.me();
    await startSession(me);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      const setup = await api.setup().catch(() => ({ needs_setup: false }));
      store.set({ phase: 'login', needsSetup: setup.needs_setup });
      return;
    }
    // The server cannot be reached: keep trying.
    store.set({ phase: 'boot', conn: 'offline' });
    if (bootRetry) clearTimeout(bootRetry);
    bootRetry = setTimeout(() => void tryBoot(), 3000);
  }
}

/** Signs in with a password. When the account must pass (or set up) a second factor, no
 * session exists yet: the challenge is returned for the second step (ui/SecondFactor.tsx). */
export async function login(loginName: string, password: string): Promise<SecondFactorChallengeDto | null> {
  const r = await api.login(loginName, password);
  if ('second_factor' in r) return r.second_factor;
  await startSession(r.user);
  return null;
}

/** Enters the app once a session exists (after the second step of signing in). */
export async function enterSession(me: User) {
  await startSession(me);
}

async function startSession(me: User) {
  markSignedIn(true);
  const route = parseRoute(location.pathname);
  store.set((s) => ({
    ...initialState(s.prefs),
    phase: 'ready',
    me,
    users: { [me.id]: me },
    byUsername: { [me.username.toLowerCase()]: me.id },
    activity: loadActivity(me.id),
    outbox: loadOutbox(me.id).map((p) => (p.status === 'failed' ? p : { ...p, attempts: 0 })),
    route,
    panel: route.name === 'channel' && route.thread ? { kind: 'thread', rootId: route.thread } : null,
  }));
  rt.start();
  // Guests may not browse the directory: they learn of people through their channels.
  const directory = store.get().me?.is_guest ? Promise.resolve() : loadUsers().catch(reportError);
  await Promise.all([directory, loadChannels().catch(reportError)]);
  await enterRoute(store.get().route);
  wakeOutbox();
}

export async function logout() {
  await api.logout().catch(() => {});
  const provider = localStorage.getItem(SSO_PROVIDER_KEY);
  forgetUser();
  if (provider) {
    // End the provider's session too (where it supports that); it sends the browser back.
    location.assign(`/auth/oidc/${encodeURIComponent(provider)}/logout`);
    return;
  }
  await endSession(false);
  // Components that save on unmount (the composer's draft) do nothing once no one is signed in;
  // clear again after they unmounted all the same.
  setTimeout(forgetUser, 0);
}

/** Signing out leaves nothing of the user on the computer: drafts, unsent messages, activity
 * and preferences (theme and language go back to the browser's). */
function forgetUser() {
  if (activityTimer) {
    clearTimeout(activityTimer);
    activityTimer = null;
  }
  try {
    clearUserStorage(localStorage);
  } catch {
    /* storage unavailable */
  }
  store.set({ prefs: DEFAULT_PREFS });
  applyPrefs();
}

async function endSession(expired: boolean) {
  const s = store.get();
  if (s.phase !== 'ready') return;
  rt.stop();
  markSignedIn(false);
  const setup = await api.setup().catch(() => ({ needs_setup: false }));
  store.set((st) => ({ ...initialState(st.prefs), phase: 'login', needsSetup: setup.needs_setup }));
  history.replaceState(null, '', '/');
  if (expired) toast(t('login.expired'), 'info');
}

// ---------------------------------------------------------------------------------------------
// Channels

export async function loadChannels() {
  const list = await api.channels();
  const channels: Record<string, Channel> = {};
  for (const c of list) channels[c.id] = c;
  store.set({ channels, channelsLoaded: true });
  const ids = new Set<string>();
  for (const c of list) for (const u of c.dm_user_ids ?? []) ids.add(u);
  ensureUsers(ids);
  schedulePresence();
}

/** Fetches one channel's summary (counts included) again. */
export async function refreshChannel(id: string) {
  try {
    const c = await api.channel(id);
    if (c.role === undefined) return;
    store.set((s) => ({ channels: { ...s.channels, [id]: c } }));
    ensureUsers(c.dm_user_ids ?? []);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      removeChannel(id);
    }
  }
}

function removeChannel(id: string) {
  store.set((s) => {
    const channels = { ...s.channels };
    delete channels[id];
    const timelines = { ...s.timelines };
    delete timelines[id];
    return { channels, timelines };
  });
  if (currentChannelId() === id) navigate({ name: 'home' });
}

let refreshTimer: ReturnType<typeof setTimeout> | null = null;
function scheduleChannelsReload() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    loadChannels().catch(() => {});
  }, 200);
}

export function setChannel(c: Channel) {
  store.set((s) => ({ channels: { ...s.channels, [c.id]: { ...s.channels[c.id], ...c } } }));
}

export async function createChannel(name: string, priv: boolean, topic: string): Promise<Channel> {
  const c = await api.createChannel({ name, kind: priv ? 'private' : 'public', topic: topic || undefined });
  setChannel(c);
  navigate({ name: 'channel', id: c.id });
  return c;
}

export async function joinChannel(id: string) {
  await api.join(id);
  await refreshChannel(id);
  const wasOutside = id in store.get().outside;
  if (wasOutside) {
    store.set((s) => {
      const outside = { ...s.outside };
      delete outside[id];
      return { outside };
    });
  }
  const r = store.get().route;
  if (wasOutside && r.name === 'channel' && r.id === id) void enterRoute(r);
  else navigate({ name: 'channel', id });
}

export async function leaveChannel(id: string) {
  await api.leave(id);
  removeChannel(id);
}

export async function openDm(userIds: string[]) {
  const c = await api.openDm(userIds);
  setChannel(c);
  ensureUsers(c.dm_user_ids ?? []);
  navigate({ name: 'channel', id: c.id });
}

// ---------------------------------------------------------------------------------------------
// Slash commands (docs/api/integrations.md): every line that starts with `/` goes to the server,
// which decides whether it is a command (the core's rule) and answers what it did.

let nextEphemeralId = 1;

/** Shows a text to this person only, under the conversation (or thread) it belongs to. */
export function addEphemeral(channelId: string, threadRootId: string | null, text: string, help?: CommandSpecDto[]) {
  const e: Ephemeral = { id: nextEphemeralId++, channelId, threadRootId, text, help, at: Date.now() };
  // At most 20 kept: older ones go first.
  store.set((s) => ({ ephemerals: [...s.ephemerals, e].slice(-20) }));
  if (threadRootId === null) view.atBottom = true;
}

export function dismissEphemeral(id: number) {
  store.set((s) => ({ ephemerals: s.ephemerals.filter((e) => e.id !== id) }));
}

/** The commands one may type (loaded once, or again with `fresh`: custom ones come and go). */
export async function loadCommands(fresh = false): Promise<CommandSpecDto[]> {
  const have = store.get().commands;
  if (have && !fresh) return have;
  const list = await api.commands();
  store.set({ commands: list });
  return list;
}

const names = (users: User[] | undefined) => (users ?? []).map((u) => '@' + u.username).join(', ');

/** Runs a line typed in a conversation; shows its answer. Throws what the server refused. */
export async function runCommand(channelId: string, text: string, threadRootId: string | null) {
  const r = await api.runCommand(channelId, { text, thread_root_id: threadRootId });
  const here = (s: string) => addEphemeral(channelId, threadRootId, s);
  if (r.users) addUsers(r.users);
  if (r.already) addUsers(r.already);
  if (r.user) addUsers([r.user]);
  switch (r.result) {
    case 'joined':
    case 'opened':
      if (r.channel) {
        setChannel(r.channel);
        ensureUsers(r.channel.dm_user_ids ?? []);
        navigate({ name: 'channel', id: r.channel.id });
      }
      return;
    case 'left':
      removeChannel(channelId);
      toast(t('cmd.left'), 'info');
      return;
    case 'invited': {
      const parts = [];
      if (r.users?.length) parts.push(t('cmd.invited', { names: names(r.users) }));
      if (r.already?.length) parts.push(t('cmd.already', { names: names(r.already) }));
      here(parts.join(' '));
      return;
    }
    case 'removed':
      here(t('cmd.removed', { names: names(r.users) }));
      return;
    case 'topic':
    case 'topic_set':
    case 'purpose':
    case 'purpose_set': {
      const c = r.channel;
      if (!c) return;
      setChannel(c);
      const topic = r.result.startsWith('topic');
      const value = topic ? c.topic : c.purpose;
      here(
        r.result.endsWith('_set')
          ? t(topic ? 'cmd.topicSet' : 'cmd.purposeSet', { text: value })
          : value
            ? t(topic ? 'cmd.topic' : 'cmd.purpose', { text: value })
            : t(topic ? 'cmd.noTopic' : 'cmd.noPurpose'),
      );
      return;
    }
    case 'status':
      here(r.status_text ? t('cmd.status', { text: r.status_text }) : t('cmd.statusCleared'));
      return;
    case 'dnd':
      here(r.dnd ? t('cmd.dndOn') : t('cmd.dndOff'));
      return;
    case 'help':
      addEphemeral(channelId, threadRootId, '', r.commands ?? []);
      return;
    case 'custom':
      if (r.response_type === 'ephemeral' && r.text) here(r.text);
      return;
    default:
      // `posted`: the message arrives over the socket like any other.
      if (threadRootId === null) view.atBottom = true;
  }
}

// ---------------------------------------------------------------------------------------------
// Navigation

export function navigate(r: Route, push = true) {
  setRoute(r, push);
}

function setRoute(r: Route, push: boolean) {
  const path = routePath(r);
  if (push && location.pathname !== path) history.pushState(null, '', path);
  const prev = store.get().route;
  const changedChannel = !(prev.name === 'channel' && r.name === 'channel' && prev.id === r.id);
  const panel: Panel =
    r.name === 'channel' && r.thread
      ? { kind: 'thread', rootId: r.thread }
      : changedChannel
        ? null
        : store.get().panel?.kind === 'thread'
          ? null
          : store.get().panel;
  store.set({ route: r, panel, modal: null, editing: changedChannel ? null : store.get().editing });
  if (changedChannel || r.name !== 'channel') void enterRoute(r);
  else if (r.thread) void loadThread(r.thread);
}

async function enterRoute(r: Route) {
  if (r.name !== 'channel') return;
  const s = store.get();
  let c = s.channels[r.id];
  if (!c) {
    const found = await api.channel(r.id).catch(() => null);
    if (found && found.role !== undefined) {
      store.set((st) => ({ channels: { ...st.channels, [r.id]: found } }));
      ensureUsers(found.dm_user_ids ?? []);
    }
    c = store.get().channels[r.id];
    if (!c) {
      // Not a member: a public channel is previewed with a Join button; anything else says
      // that the channel does not exist (or is not one this user may see).
      const outside = found && found.kind === 'public' ? found : 'missing';
      store.set((st) => ({ outside: { ...st.outside, [r.id]: outside } }));
      return;
    }
  }
  const unread = (c.unread_count ?? 0) > 0 ? (c.last_read_seq ?? 0) : null;
  store.set((st) => ({ unreadMarker: { ...st.unreadMarker, [r.id]: unread } }));
  view.atBottom = true;
  const tl = store.get().timelines[r.id];
  if (!tl || !tl.loaded) await loadLatest(r.id);
  void loadMembers(r.id);
  if (r.thread) void loadThread(r.thread);
  maybeMarkRead();
}

// ---------------------------------------------------------------------------------------------
// Timelines

const PAGE = 50;

function setTimeline(id: string, f: (t: Timeline) => Timeline) {
  store.set((s) => {
    const old = s.timelines[id] ?? { messages: [], hasMoreBefore: true, loading: false, loaded: false };
    return { timelines: { ...s.timelines, [id]: f(old) } };
  });
}

/** Loads the newest page. `replace`: drop what is held (after a resync). */
export async function loadLatest(id: string, replace = false) {
  setTimeline(id, (t) => ({ ...t, loading: true, error: undefined }));
  const v = pos();
  try {
    const msgs = await api.history(id, { limit: PAGE });
    ensureUsers(new Set(msgs.map((m) => m.user_id)));
    if (msgs.length) bumpActivity(id, Date.parse(msgs[msgs.length - 1].created_at));
    setTimeline(id, (t) => {
      const incoming = msgs.map((m) => stored(m, v));
      const held = replace ? [] : t.messages;
      // Keep held messages only if they join up with the new page (no hole in between).
      const joins = held.length > 0 && incoming.length > 0 && held[held.length - 1].seq >= incoming[0].seq;
      const base = joins ? held : [];
      return {
        messages: mergeMessages(base, incoming),
        hasMoreBefore: joins ? t.hasMoreBefore : msgs.length >= PAGE,
        loading: false,
        loaded: true,
      };
    });
  } catch (e) {
    setTimeline(id, (t) => ({ ...t, loading: false, error: errorText(e) }));
  }
}

/** Loads the page before the oldest message held; resolves to the number loaded. */
export async function loadOlder(id: string): Promise<number> {
  const tl = store.get().timelines[id];
  if (!tl || tl.loading || !tl.hasMoreBefore || tl.messages.length === 0) return 0;
  setTimeline(id, (t) => ({ ...t, loading: true }));
  const v = pos();
  try {
    const msgs = await api.history(id, { before: tl.messages[0].seq, limit: PAGE });
    ensureUsers(new Set(msgs.map((m) => m.user_id)));
    setTimeline(id, (t) => ({
      ...t,
      messages: mergeMessages(
        t.messages,
        msgs.map((m) => stored(m, v)),
      ),
      hasMoreBefore: msgs.length >= PAGE,
      loading: false,
    }));
    return msgs.length;
  } catch (e) {
    setTimeline(id, (t) => ({ ...t, loading: false }));
    reportError(e);
    return 0;
  }
}

/** Loads older pages until the message after `seq` is held. */
export async function loadUntil(id: string, seq: number) {
  for (let i = 0; i < 40; i++) {
    const tl = store.get().timelines[id];
    if (!tl || tl.messages.length === 0 || tl.messages[0].seq <= seq + 1 || !tl.hasMoreBefore) return;
    if ((await loadOlder(id)) === 0) return;
  }
}

/** Applies a message's new state wherever it is held (timeline, thread, pins). */
function upsertMessage(m: Message, v: number, opts: { live?: boolean } = {}) {
  const sm = stored(m, v);
  store.set((s) => {
    const patch: Partial<typeof s> = {};
    const cid = m.channel_id;
    if (m.thread_root_id === null) {
      const tl = s.timelines[cid];
      if (tl && tl.loaded) {
        const held = tl.messages.some((x) => x.id === m.id);
        if (held || opts.live) {
          const messages = mergeMessages(tl.messages, [sm]);
          if (messages !== tl.messages) patch.timelines = { ...s.timelines, [cid]: { ...tl, messages } };
        }
      }
    }
    const rootId = m.thread_root_id ?? m.id;
    const th = s.threads[rootId];
    if (th) {
      if (m.thread_root_id === null) {
        if (!th.root || th.root.v <= v) patch.threads = { ...s.threads, [rootId]: { ...th, root: sm } };
      } else {
        const held = th.replies.some((x) => x.id === m.id);
        if (held || opts.live) {
          const replies = mergeMessages(th.replies, [sm]);
          if (replies !== th.replies) patch.threads = { ...s.threads, [rootId]: { ...th, replies } };
        }
      }
    }
    const pins = s.pins[cid];
    if (pins) {
      const without = pins.filter((x) => x.id !== m.id);
      const next = m.pinned && !m.deleted ? [sm, ...without] : without;
      if (next.length !== pins.length || m.pinned) {
        next.sort((a, b) => (b.pinned_at ?? '').localeCompare(a.pinned_at ?? ''));
        patch.pins = { ...s.pins, [cid]: next };
      }
    }
    return patch;
  });
}

// ---------------------------------------------------------------------------------------------
// Threads, pins, members

export async function loadThread(rootId: string) {
  store.set((s) => ({
    threads: {
      ...s.threads,
      [rootId]: s.threads[rootId]
        ? { ...s.threads[rootId], loading: true }
        : { rootId, channelId: null, root: null, replies: [], loading: true },
    },
  }));
  const v = pos();
  try {
    const msgs = await api.thread(rootId, { limit: 1000 });
    ensureUsers(new Set(msgs.map((m) => m.user_id)));
    const [root, ...replies] = msgs.map((m) => stored(m, v));
    store.set((s) => {
      const th = s.threads[rootId];
      const keepRoot = th?.root && th.root.v > v ? th.root : root;
      return {
        threads: {
          ...s.threads,
          [rootId]: {
            rootId,
            channelId: root.channel_id,
            root: keepRoot,
            replies: mergeMessages(th?.replies ?? [], replies),
            loading: false,
          },
        },
      };
    });
  } catch (e) {
    store.set((s) => ({
      threads: { ...s.threads, [rootId]: { ...s.threads[rootId], loading: false, error: errorText(e) } },
    }));
  }
}

export function openThread(channelId: string, rootId: string) {
  navigate({ name: 'channel', id: channelId, thread: rootId });
}

export function closePanel() {
  const r = store.get().route;
  if (r.name === 'channel' && r.thread) navigate({ name: 'channel', id: r.id });
  store.set({ panel: null });
}

export function togglePanel(kind: 'pins' | 'members') {
  const r = store.get().route;
  if (r.name !== 'channel') return;
  const cur = store.get().panel;
  if (cur?.kind === kind) {
    store.set({ panel: null });
    return;
  }
  if (r.thread) navigate({ name: 'channel', id: r.id });
  store.set({ panel: { kind } });
  if (kind === 'pins') void loadPins(r.id);
  else void loadMembers(r.id);
}

export async function loadPins(channelId: string) {
  const v = pos();
  try {
    const msgs = await api.pins(channelId);
    ensureUsers(new Set(msgs.map((m) => m.user_id)));
    store.set((s) => ({ pins: { ...s.pins, [channelId]: msgs.map((m) => stored(m, v)) } }));
  } catch (e) {
    reportError(e);
  }
}

export async function loadMembers(channelId: string) {
  try {
    const list = await api.members(channelId, { limit: 1000 });
    addUsers(list.map((m) => m.user));
    store.set((s) => ({ members: { ...s.members, [channelId]: list.map((m) => m.user.id) } }));
  } catch {
    /* the member list is a convenience */
  }
}

export async function addMember(channelId: string, userId: string) {
  await api.addMember(channelId, userId);
  await loadMembers(channelId);
}

export async function removeMember(channelId: string, userId: string) {
  await api.removeMember(channelId, userId);
  await loadMembers(channelId);
}

// ---------------------------------------------------------------------------------------------
// Message actions

export async function editMessage(id: string, text: string) {
  const v = pos();
  const m = await api.edit(id, text);
  upsertMessage(m, v);
}

export async function deleteMessage(id: string) {
  const v = pos();
  await api.remove(id);
  const m = findMessage(id);
  if (m) upsertMessage({ ...m, deleted: true, text: '', deleted_at: new Date().toISOString() }, v);
}

export function findMessage(id: string): StoredMessage | undefined {
  const s = store.get();
  for (const tl of Object.values(s.timelines)) {
    const m = tl.messages.find((x) => x.id === id);
    if (m) return m;
  }
  for (const th of Object.values(s.threads)) {
    if (th.root?.id === id) return th.root;
    const m = th.replies.find((x) => x.id === id);
    if (m) return m;
  }
  return undefined;
}

export async function toggleReaction(m: Message, emoji: string) {
  const me = store.get().me!.id;
  const mine = m.reactions.some((r) => r.emoji === emoji && r.user_ids.includes(me));
  const v = pos();
  try {
    const out = mine ? await api.unreact(m.id, emoji) : await api.react(m.id, emoji);
    upsertMessage(out, v);
  } catch (e) {
    reportError(e);
  }
}

export async function togglePin(m: Message) {
  const v = pos();
  try {
    const out = m.pinned ? await api.unpin(m.id) : await api.pin(m.id);
    upsertMessage(out, v);
    toast(out.pinned ? t('pins.pinned') : t('pins.unpinned'), 'info');
  } catch (e) {
    reportError(e);
  }
}

export function confirm(modal: Exclude<Modal, null> & { kind: 'confirm' }) {
  store.set({ modal });
}

// ---------------------------------------------------------------------------------------------
// The outbox: pending sends go out in order, each with its client id, retried until the
// server answers; a retry can never post twice (the server dedupes by client id).

export function send(channelId: string, text: string, threadRootId: string | null, fileIds: string[] = []) {
  const p: Pending = {
    clientMsgId: newClientMsgId(),
    channelId,
    threadRootId,
    text,
    fileIds: fileIds.length ? fileIds : undefined,
    createdAt: Date.now(),
    status: 'sending',
    attempts: 0,
  };
  store.set((s) => ({ outbox: [...s.outbox, p] }));
  saveOutbox();
  // The receivers stop showing us as typing when the message arrives; typing again is news.
  delete typingSent[channelId + ':' + (threadRootId ?? '')];
  if (threadRootId === null) view.atBottom = true;
  wakeOutbox();
}

export function retry(clientMsgId: string) {
  updatePending(clientMsgId, { status: 'sending', attempts: 0, error: undefined });
  wakeOutbox();
}

export function discard(clientMsgId: string) {
  store.set((s) => ({ outbox: s.outbox.filter((p) => p.clientMsgId !== clientMsgId) }));
  saveOutbox();
}

function updatePending(id: string, patch: Partial<Pending>) {
  store.set((s) => ({ outbox: s.outbox.map((p) => (p.clientMsgId === id ? { ...p, ...patch } : p)) }));
  saveOutbox();
}

let outboxRunning = false;
let outboxWaker: (() => void) | null = null;

function wakeOutbox() {
  if (outboxWaker) {
    const w = outboxWaker;
    outboxWaker = null;
    w();
  }
  if (!outboxRunning) void runOutbox();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      outboxWaker = null;
      resolve();
    }, ms);
    outboxWaker = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

async function runOutbox() {
  if (outboxRunning) return;
  outboxRunning = true;
  try {
    let failures = 0;
    for (;;) {
      const s = store.get();
      if (s.phase !== 'ready' || !s.me) return;
      const next = s.outbox.find((p) => p.status === 'sending');
      if (!next) return;
      const v = pos();
      try {
        const m = await api.post(next.channelId, {
          text: next.text,
          client_msg_id: next.clientMsgId,
          thread_root_id: next.threadRootId,
          file_ids: next.fileIds,
        });
        failures = 0;
        onConfirmed(m, v);
      } catch (e) {
        if (store.get().phase !== 'ready') return;
        const limited = sendLimitedText(e);
        if (limited !== null) {
          // Refused by the rate limit: say so on the message, keep it, send it after the wait.
          updatePending(next.clientMsgId, { attempts: next.attempts + 1, error: limited });
          await sleep((rateLimitWait(e) ?? 1) * 1000);
          continue;
        }
        if (isTransient(e)) {
          updatePending(next.clientMsgId, { attempts: next.attempts + 1, error: undefined });
          failures++;
          await sleep(Math.min(15_000, 500 * 2 ** Math.min(failures, 5)));
          continue;
        }
        if (e instanceof ApiError && e.status === 401) return;
        updatePending(next.clientMsgId, { status: 'failed', error: errorText(e) });
      }
    }
  } finally {
    outboxRunning = false;
  }
}

/** Opens the editor on a confirmed message when Up was pressed while it was still being sent. */
function openEditAfterSend(m: Message) {
  const s = store.get();
  if (s.editAfterSend && m.client_msg_id === s.editAfterSend && m.user_id === s.me?.id) {
    store.set({ editing: m.id, editAfterSend: null });
  }
}

function onConfirmed(m: Message, v: number) {
  const me = store.get().me?.id ?? '';
  store.set((s) => ({ outbox: confirmPending(s.outbox, m, me) }));
  saveOutbox();
  upsertMessage(m, v, { live: true });
  openEditAfterSend(m);
  bumpActivity(m.channel_id, Date.parse(m.created_at));
  const c = store.get().channels[m.channel_id];
  if (c) store.set((s) => ({ channels: { ...s.channels, [c.id]: countNewMessage(c, m, me, true) } }));
}

// ---------------------------------------------------------------------------------------------
// Read state

let readTimer: ReturnType<typeof setTimeout> | null = null;
const readSent: Record<string, number> = {};

/** Marks the channel on screen read when its newest messages are visible. */
export function maybeMarkRead() {
  const id = currentChannelId();
  if (!id || !seeing(id)) return;
  const c = store.get().channels[id];
  if (!c) return;
  const unread = (c.unread_count ?? 0) > 0 || (c.mention_count ?? 0) > 0 || (c.last_read_seq ?? 0) < c.last_seq;
  if (!unread) return;
  const { channel } = applyRead(c, c.last_seq);
  store.set((s) => ({ channels: { ...s.channels, [id]: channel } }));
  if (readTimer) clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    readTimer = null;
    const ch = store.get().channels[id];
    if (!ch) return;
    const seq = ch.last_read_seq ?? 0;
    if (readSent[id] === seq) return;
    readSent[id] = seq;
    api.markRead(id, seq).catch(() => {
      delete readSent[id];
    });
  }, 250);
}

/** Marks a channel unread from a message on (Slack's "mark unread"). */
export async function markUnreadFrom(m: Message) {
  try {
    await api.markRead(m.channel_id, Math.max(0, m.seq - 1));
    delete readSent[m.channel_id];
    await refreshChannel(m.channel_id);
    store.set((s) => ({ unreadMarker: { ...s.unreadMarker, [m.channel_id]: m.seq - 1 } }));
  } catch (e) {
    reportError(e);
  }
}

// ---------------------------------------------------------------------------------------------
// Typing and presence

const typingSent: Record<string, number> = {};

export function sendTyping(channelId: string, threadRootId: string | null) {
  const key = channelId + ':' + (threadRootId ?? '');
  const now = Date.now();
  if ((typingSent[key] ?? 0) > now - 2500) return;
  if (rt.send({ type: 'typing', channel_id: channelId, thread_root_id: threadRootId })) typingSent[key] = now;
}

export function typingKey(channelId: string, threadRootId: string | null): string {
  return threadRootId ? `${channelId}:${threadRootId}` : channelId;
}

let typingTimer: ReturnType<typeof setInterval> | null = null;

function setTyping(key: string, userId: string, until: number | null) {
  store.set((s) => {
    const cur = { ...(s.typing[key] ?? {}) };
    if (until === null) {
      if (!(userId in cur)) return {};
      delete cur[userId];
    } else cur[userId] = until;
    return { typing: { ...s.typing, [key]: cur } };
  });
  if (!typingTimer) {
    typingTimer = setInterval(() => {
      const now = Date.now();
      const s = store.get();
      let any = false;
      let changed = false;
      const typing: typeof s.typing = {};
      for (const [k, users] of Object.entries(s.typing)) {
        const kept: Record<string, number> = {};
        for (const [u, until] of Object.entries(users)) {
          if (until > now) {
            kept[u] = until;
            any = true;
          } else changed = true;
        }
        typing[k] = kept;
      }
      if (changed) store.set({ typing });
      if (!any && typingTimer) {
        clearInterval(typingTimer);
        typingTimer = null;
      }
    }, 1000);
  }
}

let presenceTimer: ReturnType<typeof setTimeout> | null = null;
function schedulePresence() {
  if (presenceTimer) return;
  presenceTimer = setTimeout(() => {
    presenceTimer = null;
    subscribePresence();
  }, 300);
}

function subscribePresence() {
  const s = store.get();
  // People in direct conversations first, then everyone else known, up to the server's limit.
  const ids = new Set<string>();
  if (s.me) ids.add(s.me.id);
  for (const c of Object.values(s.channels)) for (const u of c.dm_user_ids ?? []) ids.add(u);
  for (const id of Object.keys(s.users)) ids.add(id);
  rt.send({ type: 'presence.subscribe', user_ids: [...ids].slice(0, 500) });
}

export function sendActivity() {
  rt.send({ type: 'activity' });
}

export function setStatus(statusText: string, dnd: boolean) {
  rt.send({ type: 'presence.set', status_text: statusText, dnd });
}

// ---------------------------------------------------------------------------------------------
// Real-time events

let syncing = false;
let buffered: EventFrame[] = [];
let firstHello = true;

async function onHello(outcome: 'fresh' | 'resumed') {
  subscribePresence();
  if (outcome === 'resumed') return;
  // A fresh start (first connection, or the position was too old): reload state over REST,
  // holding the events that arrive meanwhile, then apply them on top.
  const replace = !firstHello;
  firstHello = false;
  syncing = true;
  try {
    if (replace) {
      store.set({ timelines: {}, threads: {}, pins: {} });
    }
    await loadChannels().catch(() => {});
    const id = currentChannelId();
    const jobs: Promise<unknown>[] = [];
    if (id) jobs.push(loadLatest(id, replace));
    const panel = store.get().panel;
    if (panel?.kind === 'thread') jobs.push(loadThread(panel.rootId));
    if (id && panel?.kind === 'pins') jobs.push(loadPins(id));
    await Promise.all(jobs);
  } finally {
    syncing = false;
    const held = buffered;
    buffered = [];
    for (const f of held) applyEvent(f);
    maybeMarkRead();
  }
}

function onEvent(f: EventFrame) {
  if (syncing) {
    buffered.push(f);
    return;
  }
  applyEvent(f);
}

const seenEphemeral = new Set<number>();

function applyEvent(f: EventFrame) {
  const s = store.get();
  const me = s.me?.id ?? '';
  const v = f.position;
  switch (f.type) {
    case 'message.created': {
      const m = f.message;
      if (!m) return scheduleChannelsReload();
      ensureUsers([m.user_id]);
      bumpActivity(m.channel_id, Date.parse(m.created_at));
      store.set((st) => ({ outbox: confirmPending(st.outbox, m, me) }));
      saveOutbox();
      upsertMessage(m, v, { live: true });
      openEditAfterSend(m);
      const c = store.get().channels[m.channel_id];
      if (c) {
        const seen = m.thread_root_id === null && seeing(m.channel_id);
        const next = countNewMessage(c, m, me, seen);
        if (next !== c) store.set((st) => ({ channels: { ...st.channels, [c.id]: next } }));
        if (seen && m.user_id !== me) maybeMarkReadSoon();
        if (next !== c && m.user_id !== me) notifyMessage(next, m);
      } else {
        scheduleChannelsReload();
      }
      setTyping(typingKey(m.channel_id, m.thread_root_id), m.user_id, null);
      return;
    }
    case 'message.edited':
    case 'message.pinned':
    case 'message.unpinned':
    case 'thread.updated':
    case 'reaction.added':
    case 'reaction.removed': {
      if (f.message) upsertMessage(f.message, v);
      return;
    }
    case 'message.deleted': {
      const m = f.message;
      if (!m) return;
      upsertMessage(m, v);
      const c = store.get().channels[m.channel_id];
      if (c && m.seq > (c.last_read_seq ?? 0) && m.user_id !== me) void refreshChannel(c.id);
      return;
    }
    case 'channel.created':
    case 'channel.updated':
    case 'channel.archived':
    case 'channel.unarchived': {
      const ch = f.channel;
      if (!ch) return scheduleChannelsReload();
      const c = store.get().channels[ch.id];
      if (c) store.set((st) => ({ channels: { ...st.channels, [ch.id]: mergeChannelInfo(c, ch) } }));
      return;
    }
    case 'member.added': {
      const cid = f.channel_id ?? f.channel?.id;
      if (!cid) return;
      if (f.user_id === me) {
        void refreshChannel(cid);
      } else {
        const c = store.get().channels[cid];
        if (c && f.channel) store.set((st) => ({ channels: { ...st.channels, [cid]: mergeChannelInfo(c, f.channel!) } }));
        if (store.get().members[cid] && f.user_id) {
          ensureUsers([f.user_id]);
          store.set((st) => ({
            members: { ...st.members, [cid]: [...new Set([...(st.members[cid] ?? []), f.user_id!])] },
          }));
        }
      }
      return;
    }
    case 'member.removed': {
      const cid = f.channel_id ?? f.channel?.id;
      if (!cid) return;
      if (f.user_id === me) {
        const c = store.get().channels[cid];
        if (c && currentChannelId() === cid) toast(t('channel.removed', { name: channelLabel(c, store.get()) }), 'info');
        removeChannel(cid);
      } else {
        const c = store.get().channels[cid];
        if (c && f.channel) store.set((st) => ({ channels: { ...st.channels, [cid]: mergeChannelInfo(c, f.channel!) } }));
        if (store.get().members[cid]) {
          store.set((st) => ({
            members: { ...st.members, [cid]: (st.members[cid] ?? []).filter((u) => u !== f.user_id) },
          }));
        }
      }
      return;
    }
    case 'member.updated': {
      const cid = f.channel_id;
      if (cid && f.user_id === me && f.membership) {
        const c = store.get().channels[cid];
        if (c) store.set((st) => ({ channels: { ...st.channels, [cid]: { ...c, role: f.membership!.role } } }));
      }
      return;
    }
    case 'read.updated': {
      const cid = f.channel_id;
      if (!cid || typeof f.seq !== 'number') return;
      const c = store.get().channels[cid];
      if (!c) return;
      const { channel, stale } = applyRead(c, f.seq);
      store.set((st) => ({ channels: { ...st.channels, [cid]: channel } }));
      if (stale) void refreshChannel(cid);
      return;
    }
    case 'user.created':
    case 'user.updated': {
      if (f.user) addUsers([f.user]);
      return;
    }
    case 'ephemeral.posted': {
      // An integration's follow-up for this person only (replayed on resume: shown once).
      if (f.channel_id && typeof f.text === 'string' && !seenEphemeral.has(v)) {
        seenEphemeral.add(v);
        addEphemeral(f.channel_id, f.thread_root_id ?? null, f.text);
      }
      return;
    }
    default: {
      // An object this user may no longer see, or an event type added later: reload the list.
      if (!f.message && !f.channel && !f.user) scheduleChannelsReload();
    }
  }
}

let readSoon: ReturnType<typeof setTimeout> | null = null;
function maybeMarkReadSoon() {
  if (readSoon) return;
  readSoon = setTimeout(() => {
    readSoon = null;
    const id = currentChannelId();
    if (!id) return;
    const c = store.get().channels[id];
    if (!c) return;
    const seq = c.last_read_seq ?? 0;
    if (readSent[id] === seq) return;
    readSent[id] = seq;
    api.markRead(id, seq).catch(() => delete readSent[id]);
  }, 400);
}

function onEphemeral(f: ServerFrame) {
  const me = store.get().me?.id;
  switch (f.type) {
    case 'typing': {
      const ty = f as Extract<ServerFrame, { type: 'typing' }>;
      if (ty.user_id === me) return;
      ensureUsers([ty.user_id]);
      setTyping(typingKey(ty.channel_id, ty.thread_root_id), ty.user_id, Date.now() + 6000);
      return;
    }
    case 'presence': {
      const p = f as Presence & { type: 'presence' };
      store.set((s) => ({
        presence: {
          ...s.presence,
          [p.user_id]: { user_id: p.user_id, presence: p.presence, status_text: p.status_text, dnd: p.dnd },
        },
      }));
      return;
    }
    default:
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Notifications and the tab title

export function notificationsSupported(): boolean {
  return typeof Notification !== 'undefined';
}

export async function requestNotifications(): Promise<NotificationPermission | 'unsupported'> {
  if (!notificationsSupported()) return 'unsupported';
  const p = await Notification.requestPermission();
  if (p === 'granted') setPrefs({ notify: true });
  return p;
}

function notifyMessage(c: Channel, m: Message) {
  const s = store.get();
  if (!s.prefs.notify || !notificationsSupported() || Notification.permission !== 'granted') return;
  if (s.me && s.presence[s.me.id]?.dnd) return;
  const direct = c.kind === 'dm' || c.kind === 'group_dm';
  if (!direct && !mentionsUser(m, s.me?.id ?? '')) return;
  if (visible() && currentChannelId() === c.id) return;
  const author = s.users[m.user_id];
  const who = author ? author.display_name || author.username : t('user.unknown');
  const title = direct && c.kind === 'dm' ? who : `${who} · ${channelLabel(c, s)}`;
  try {
    const n = new Notification(title, { body: plainText(m.text, 180), tag: 'enclave-' + c.id, icon: '/favicon.svg' });
    n.onclick = () => {
      window.focus();
      navigate(m.thread_root_id ? { name: 'channel', id: c.id, thread: m.thread_root_id } : { name: 'channel', id: c.id });
      n.close();
    };
  } catch {
    /* some platforms only allow notifications from a service worker */
  }
}

let lastTitle = '';
function updateTitle() {
  const s = store.get();
  let title = 'Enclave';
  if (s.phase === 'ready') {
    const list = Object.values(s.channels);
    const n = attentionCount(list);
    const any = list.some((c) => (c.unread_count ?? 0) > 0);
    const r = s.route;
    const here = r.name === 'channel' && s.channels[r.id] ? channelLabel(s.channels[r.id], s) : r.name === 'admin' ? t('admin.title') : '';
    title = (n > 0 ? `(${n}) ` : any ? '• ' : '') + (here ? `${here} · Enclave` : 'Enclave');
  } else if (s.phase === 'login') {
    title = `${t('login.title')} · Enclave`;
  }
  if (title !== lastTitle) {
    lastTitle = title;
    document.title = title;
  }
}
