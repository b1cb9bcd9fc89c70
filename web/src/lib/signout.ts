// What signing out leaves behind on a shared computer: nothing of the person who used it.
// Every key the client writes to local storage starts with `enclave.` (drafts, the outbox of
// unsent messages, conversation activity, preferences such as theme and language, whether
// notifications were offered); signing out removes them all.

/** The prefix of every local storage key the client writes. */
export const STORAGE_PREFIX = 'enclave.';

type KeyedStorage = Pick<Storage, 'length' | 'key' | 'removeItem'>;

/** Removes every key of the client from `storage`; returns the keys removed. */
export function clearUserStorage(storage: KeyedStorage): string[] {
  const keys: string[] = [];
  for (let i = 0; i < storage.length; i++) {
    const k = storage.key(i);
    if (k !== null && k.startsWith(STORAGE_PREFIX)) keys.push(k);
  }
  for (const k of keys) storage.removeItem(k);
  return keys;
}
