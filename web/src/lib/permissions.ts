// What the signed-in user may do to a message, mirroring the server's rules
// (`enclave_core::permissions`), so that the client offers only actions the server accepts.
// The server decides; these only hide buttons.

import type { Channel, Message } from './types';

/** Who is asking: their id and whether they are a site administrator. */
export interface Viewer {
  id: string;
  is_admin: boolean;
}

/**
 * Whether the viewer moderates the channel: its owner or an admin, or a site administrator in
 * a public channel. Nobody moderates a direct conversation.
 */
export function moderates(viewer: Viewer, channel: Pick<Channel, 'kind' | 'role'> | undefined): boolean {
  if (!channel || channel.kind === 'dm' || channel.kind === 'group_dm') return false;
  return channel.role === 'owner' || channel.role === 'admin' || (viewer.is_admin && channel.kind === 'public');
}

/** Whether the viewer may unpin `m`: whoever pinned it, or a channel moderator. */
export function mayUnpin(viewer: Viewer, channel: Pick<Channel, 'kind' | 'role'> | undefined, m: Pick<Message, 'pinned' | 'pinned_by'>): boolean {
  if (!m.pinned) return true;
  return m.pinned_by === viewer.id || moderates(viewer, channel);
}
