// The REST client. Authentication is the HttpOnly session cookie the login sets: the client
// never sees a token, and the browser sends the Origin header the server checks on changes.

import type {
  BrowseQueryParams,
  ChannelList,
  ChannelMatches,
  ChannelSearchParams,
  CreateChannelRequest,
  CreateUserRequest,
  ErrorBody,
  ErrorCode,
  HistoryQuery,
  LoginAnswer,
  LoginRequest,
  MemberList,
  MemberListQuery,
  MessageList,
  PostMessageRequest,
  PresenceList,
  SearchQueryParams,
  SearchResults,
  SetupStatus,
  SsoExchangeRequest,
  SsoProviders,
  ThreadQuery,
  TokenList,
  SessionList,
  EndedSessions,
  AppPasswordList,
  CreateAppPasswordRequest,
  CreatedAppPassword,
  CreateTokenRequest,
  CreatedToken,
  UpdateChannelRequest,
  UpdateUserRequest,
  UserList,
  UserListQuery,
  AuditPage,
  AuditQueryParams,
  // Roles and guests
  CreateRoleRequest,
  InviteGuestRequest,
  RoleDto,
  RoleList,
  UpdateRoleRequest,
  UserRolesDto,
  CommandList,
  CommandResultDto,
  RunCommandRequest,
} from '../gen/wire';
import type { Channel, Membership, Message, User } from './types';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    /** The server's code, or `http_STATUS` when the answer had no error body. */
    readonly code: ErrorCode | `http_${number}`,
    message: string,
    readonly field?: string,
    /** For `rate_limited`: the whole seconds the server asked to wait (`Retry-After`). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** A `Retry-After` header's whole seconds; `undefined` when absent or not a number of seconds. */
export function parseRetryAfter(header: string | null): number | undefined {
  if (header === null || !/^\s*\d+\s*$/.test(header)) return undefined;
  return Number(header.trim());
}

/** The request never reached the server, or its answer never came back. */
export class NetworkError extends Error {}

/** Whether a failed request may succeed if repeated later unchanged. */
export function isTransient(e: unknown): boolean {
  if (e instanceof NetworkError) return true;
  if (e instanceof ApiError) return e.status >= 500 || e.status === 429 || e.status === 408;
  return false;
}

let onUnauthenticated: () => void = () => {};
export function setUnauthenticatedHandler(f: () => void) {
  onUnauthenticated = f;
}

const BASE = '/api/v1';

/** How long one API request may take before it counts as a network failure. */
const REQUEST_TIMEOUT_MS = 10_000;

export async function request<T>(method: string, path: string, body?: unknown, opts: { quiet401?: boolean } = {}): Promise<T> {
  let resp: Response;
  try {
    resp = await fetch(BASE + path, {
      method,
      credentials: 'same-origin',
      // A request that hangs (a half-open connection, a proxy that lost the server) fails
      // like an unreachable server, so callers retry instead of waiting forever.
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new NetworkError(String(e));
  }
  if (resp.status === 204) return undefined as T;
  let data: unknown = null;
  const text = await resp.text().catch(() => '');
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const err = (data as Partial<ErrorBody> | null)?.error;
    if (resp.status === 502 || resp.status === 504 || (!err && resp.status >= 500)) {
      throw new NetworkError(`HTTP ${resp.status}`);
    }
    const e = new ApiError(
      resp.status,
      err?.code ?? `http_${resp.status}`,
      err?.message ?? resp.statusText,
      err?.field,
      parseRetryAfter(resp.headers.get('retry-after')),
    );
    if (resp.status === 401 && !opts.quiet401) onUnauthenticated();
    throw e;
  }
  return data as T;
}

const enc = encodeURIComponent;

export function qs(params: Record<string, string | number | boolean | undefined | null>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${enc(k)}=${enc(String(v))}`);
  return parts.length ? '?' + parts.join('&') : '';
}

export const api = {
  // The audit log (admin console): a page, and the export's URL (a download link).
  audit: (p: AuditQueryParams = {}) => request<AuditPage>('GET', '/admin/audit' + qs({ ...p })),
  auditExportUrl: (p: AuditQueryParams = {}) => BASE + '/admin/audit/export' + qs({ ...p }),

  setup: () => request<SetupStatus>('GET', '/auth/setup'),
  login: (login: string, password: string) =>
    request<LoginAnswer>('POST', '/auth/login', { login, password, client: 'Enclave web' } satisfies LoginRequest, {
      quiet401: true,
    }),
  logout: () => request<void>('POST', '/auth/logout', undefined, { quiet401: true }),
  ssoProviders: () => request<SsoProviders>('GET', '/auth/providers'),
  ssoExchange: (code: string) =>
    request<LoginAnswer>('POST', '/auth/sso/exchange', { code } satisfies SsoExchangeRequest, { quiet401: true }),
  me: () => request<User>('GET', '/users/me', undefined, { quiet401: true }),

  users: (p: UserListQuery = {}) => request<UserList>('GET', '/users' + qs(p)).then((r) => r.users),
  user: (id: string) => request<User>('GET', `/users/${enc(id)}`),
  createUser: (body: CreateUserRequest) => request<User>('POST', '/users', body),
  updateUser: (id: string, body: UpdateUserRequest) => request<User>('PATCH', `/users/${enc(id)}`, body),
  tokens: () => request<TokenList>('GET', '/users/me/tokens').then((r) => r.tokens),
  revokeToken: (id: string) => request<void>('DELETE', `/users/me/tokens/${enc(id)}`),
  createToken: (body: CreateTokenRequest) => request<CreatedToken>('POST', '/users/me/tokens', body),
  sessions: () => request<SessionList>('GET', '/users/me/sessions').then((r) => r.sessions),
  endSession: (id: string) => request<void>('DELETE', `/users/me/sessions/${enc(id)}`),
  endOtherSessions: () => request<EndedSessions>('POST', '/users/me/sessions/end-others'),
  userSessions: (userId: string) => request<SessionList>('GET', `/users/${enc(userId)}/sessions`).then((r) => r.sessions),
  endUserSessions: (userId: string) => request<EndedSessions>('DELETE', `/users/${enc(userId)}/sessions`),
  appPasswords: () => request<AppPasswordList>('GET', '/users/me/app-passwords').then((r) => r.app_passwords),
  createAppPassword: (body: CreateAppPasswordRequest) => request<CreatedAppPassword>('POST', '/users/me/app-passwords', body),
  revokeAppPassword: (id: string) => request<void>('DELETE', `/users/me/app-passwords/${enc(id)}`),

  channels: () => request<ChannelList>('GET', '/channels').then((r) => r.channels),
  channel: (id: string) => request<Channel>('GET', `/channels/${enc(id)}`),
  browse: (p: BrowseQueryParams = {}) =>
    request<ChannelList>('GET', '/channels/browse' + qs(p)).then((r) => r.channels),
  createChannel: (body: CreateChannelRequest) => request<Channel>('POST', '/channels', body),
  updateChannel: (id: string, body: UpdateChannelRequest) => request<Channel>('PATCH', `/channels/${enc(id)}`, body),
  join: (id: string) => request<Membership>('POST', `/channels/${enc(id)}/join`),
  leave: (id: string) => request<void>('POST', `/channels/${enc(id)}/leave`),
  members: (id: string, p: MemberListQuery = {}) =>
    request<MemberList>('GET', `/channels/${enc(id)}/members` + qs(p)).then((r) => r.members),
  addMember: (id: string, userId: string) => request<Membership>('POST', `/channels/${enc(id)}/members`, { user_id: userId }),
  removeMember: (id: string, userId: string) => request<void>('DELETE', `/channels/${enc(id)}/members/${enc(userId)}`),
  openDm: (userIds: string[]) => request<Channel>('POST', '/dms', { user_ids: userIds }),
  markRead: (id: string, seq: number) => request<Membership>('POST', `/channels/${enc(id)}/read`, { seq }),

  history: (id: string, p: HistoryQuery = {}) =>
    request<MessageList>('GET', `/channels/${enc(id)}/messages` + qs(p)).then((r) => r.messages),
  post: (id: string, body: PostMessageRequest & { client_msg_id: string }) =>
    request<Message>('POST', `/channels/${enc(id)}/messages`, body),
  message: (id: string) => request<Message>('GET', `/messages/${enc(id)}`),
  edit: (id: string, text: string) => request<Message>('PATCH', `/messages/${enc(id)}`, { text }),
  remove: (id: string) => request<void>('DELETE', `/messages/${enc(id)}`),
  thread: (id: string, p: ThreadQuery = {}) =>
    request<MessageList>('GET', `/messages/${enc(id)}/thread` + qs(p)).then((r) => r.messages),
  react: (id: string, emoji: string) => request<Message>('PUT', `/messages/${enc(id)}/reactions/${enc(emoji)}`),
  unreact: (id: string, emoji: string) => request<Message>('DELETE', `/messages/${enc(id)}/reactions/${enc(emoji)}`),
  pin: (id: string) => request<Message>('PUT', `/messages/${enc(id)}/pin`),
  unpin: (id: string) => request<Message>('DELETE', `/messages/${enc(id)}/pin`),
  pins: (id: string) => request<MessageList>('GET', `/channels/${enc(id)}/pins`).then((r) => r.messages),

  search: (p: SearchQueryParams & { q: string }) => request<SearchResults>('GET', '/search' + qs(p)),
  searchChannels: (p: ChannelSearchParams & { q: string }) =>
    request<ChannelMatches>('GET', '/search/channels' + qs(p)).then((r) => r.channels),

  // Roles and guests (docs/admin/roles.md)
  roles: () => request<RoleList>('GET', '/admin/roles'),
  createRole: (body: CreateRoleRequest) => request<RoleDto>('POST', '/admin/roles', body),
  updateRole: (id: string, body: UpdateRoleRequest) => request<RoleDto>('PATCH', `/admin/roles/${enc(id)}`, body),
  deleteRole: (id: string) => request<void>('DELETE', `/admin/roles/${enc(id)}`),
  userRoles: (id: string) => request<UserRolesDto>('GET', `/users/${enc(id)}/roles`),
  setUserRoles: (id: string, roles: string[]) => request<UserRolesDto>('PUT', `/users/${enc(id)}/roles`, { roles }),
  inviteGuest: (body: InviteGuestRequest) => request<User>('POST', '/admin/guests', body),

  // Slash commands (docs/api/integrations.md)
  commands: () => request<CommandList>('GET', '/commands').then((r) => r.commands),
  runCommand: (id: string, body: RunCommandRequest) => request<CommandResultDto>('POST', `/channels/${enc(id)}/commands`, body),

  presence: (ids: string[]) =>
    request<PresenceList>('GET', '/presence' + qs({ user_ids: ids.join(',') })).then((r) => r.presence),
};
