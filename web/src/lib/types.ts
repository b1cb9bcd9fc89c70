// Wire shapes of the REST API and the real-time protocol (crates/http/src/dto.rs,
// docs/api/realtime.md). Ids are decimal strings; times are RFC 3339 strings.

export interface User {
  id: string;
  username: string;
  display_name: string;
  email?: string;
  is_admin: boolean;
  is_bot: boolean;
  active: boolean;
  created_at: string;
}

export type ChannelKind = 'public' | 'private' | 'dm' | 'group_dm';

export interface Channel {
  id: string;
  name: string | null;
  kind: ChannelKind;
  topic: string;
  purpose: string;
  creator_id: string | null;
  n_members: number;
  last_seq: number;
  archived: boolean;
  archived_at: string | null;
  created_at: string;
  updated_at: string;
  role?: string;
  last_read_seq?: number;
  unread_count?: number;
  mention_count?: number;
  dm_user_ids?: string[];
}

export interface Membership {
  channel_id: string;
  user_id: string;
  role: string;
  last_read_seq: number;
  joined_at: string;
}

export interface Member {
  user: User;
  role: string;
  joined_at: string;
}

export interface Reaction {
  emoji: string;
  count: number;
  user_ids: string[];
}

export interface Mentions {
  user_ids: string[];
  channel: boolean;
  here: boolean;
}

export interface Message {
  id: string;
  channel_id: string;
  seq: number;
  user_id: string;
  text: string;
  thread_root_id: string | null;
  client_msg_id: string | null;
  created_at: string;
  edited_at: string | null;
  deleted: boolean;
  deleted_at: string | null;
  reply_count: number;
  last_reply_at: string | null;
  pinned: boolean;
  pinned_at: string | null;
  pinned_by: string | null;
  reactions: Reaction[];
  mentions: Mentions;
  /** Attached files (absent from servers without file support). */
  files?: FileInfo[];
}

/** An uploaded file (`FileDto`). */
export interface FileInfo {
  id: string;
  name: string;
  size: number;
  content_type: string;
  width: number | null;
  height: number | null;
  thumbnail: { width: number; height: number; content_type: string } | null;
  preview: string | null;
  uploader_id: string;
  created_at: string;
}

/** A message as the client keeps it: `v` is the event position its state is at least as new as. */
export interface StoredMessage extends Message {
  v: number;
}

export interface TokenInfo {
  id: string;
  kind: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  current: boolean;
}

export type PresenceState = 'online' | 'away' | 'offline';

export interface Presence {
  user_id: string;
  presence: PresenceState;
  status_text: string;
  dnd: boolean;
}

/** A frame from the WebSocket gateway. */
export type ServerFrame =
  | { type: 'hello'; position: number; user_id: string; session_id: string; heartbeat_secs: number }
  | { type: 'typing'; channel_id: string; user_id: string; thread_root_id: string | null }
  | ({ type: 'presence' } & Presence)
  | { type: 'ack'; client_msg_id: string; message_id: string; channel_id: string; seq: number; created: boolean }
  | { type: 'error'; code: string; message: string; client_msg_id?: string; ref?: string }
  | { type: 'pong'; ref?: string }
  | EventFrame;

/** A durable event (it has a position). */
export interface EventFrame {
  type: string;
  position: number;
  message?: Message;
  emoji?: string;
  user_id?: string;
  channel_id?: string;
  channel?: Channel;
  membership?: Membership;
  seq?: number;
  user?: User;
  message_id?: string;
}

export interface ApiErrorBody {
  error: { code: string; message: string; field?: string };
}
