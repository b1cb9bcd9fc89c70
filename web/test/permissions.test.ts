import { describe, expect, it } from 'vitest';
import { mayUnpin, moderates } from '../src/lib/permissions';

const me = { id: '1', is_admin: false };
const admin = { id: '1', is_admin: true };
const pinnedBy = (who: string | null) => ({ pinned: who !== null, pinned_by: who });

describe('unpinning follows the server rule', () => {
  // [viewer, channel kind, channel role, pinner, may unpin]
  const table: [typeof me, 'public' | 'private' | 'dm' | 'group_dm', string | undefined, string | null, boolean][] = [
    [me, 'public', 'member', '1', true], // the pinner
    [me, 'public', 'member', '2', false], // someone else's pin
    [me, 'private', 'member', '2', false],
    [me, 'private', 'admin', '2', true], // a channel admin
    [me, 'private', 'owner', '2', true],
    [admin, 'public', undefined, '2', true], // a site administrator in a public channel
    [admin, 'private', 'member', '2', false], // but not in a private one
    [me, 'dm', 'owner', '2', false], // nobody moderates a direct conversation
    [me, 'dm', 'member', '1', true],
    [me, 'group_dm', 'admin', '2', false],
    [me, 'public', 'member', null, true], // not pinned: pinning is open to members
  ];
  for (const [viewer, kind, role, pinner, want] of table) {
    it(`${viewer.is_admin ? 'site admin' : 'user'} as ${role ?? 'non-member'} in ${kind}, pinned by ${pinner}`, () => {
      expect(mayUnpin(viewer, { kind, role }, pinnedBy(pinner))).toBe(want);
    });
  }
  it('an unknown channel gives no moderation', () => {
    expect(moderates(admin, undefined)).toBe(false);
  });
});
