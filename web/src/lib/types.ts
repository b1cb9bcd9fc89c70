// The client's names for the wire types, and the types only the client has. The wire types
// themselves are generated from the server's Rust types into ../gen/wire.ts (never edit it:
// see crates/http/tests/typescript.rs); a field the server drops or renames makes `tsc` fail
// wherever the client still uses it.

import type {
  ChannelDto,
  EventBody,
  EventFrame as WireEventFrame,
  FileDto,
  MemberDto,
  MembershipDto,
  MentionsDto,
  MessageDto,
  PresenceDto,
  ReactionDto,
  TokenDto,
  UserDto,
} from '../gen/wire';

export type { ChannelKind, ClientFrame, ErrorBody as ApiErrorBody, ErrorCode, ServerFrame } from '../gen/wire';

export type User = UserDto;
export type Channel = ChannelDto;
export type Membership = MembershipDto;
export type Member = MemberDto;
export type Reaction = ReactionDto;
export type Mentions = MentionsDto;
export type Message = MessageDto;
/** An uploaded file. */
export type FileInfo = FileDto;
export type TokenInfo = TokenDto;
export type Presence = PresenceDto;
export type PresenceState = PresenceDto['presence'];

/** A message as the client keeps it: `v` is the event position its state is at least as new as. */
export interface StoredMessage extends Message {
  v: number;
}

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/**
 * A durable event (it has a position) as the client reads it: its kind and position, and the
 * fields of every event body, each optional (the client checks for what it uses).
 */
export type EventFrame = Pick<WireEventFrame, 'type' | 'position'> & Partial<UnionToIntersection<EventBody>>;
