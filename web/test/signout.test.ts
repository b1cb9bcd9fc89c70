import { describe, expect, it } from 'vitest';
import { clearUserStorage } from '../src/lib/signout';

class MemoryStorage {
  private m = new Map<string, string>();
  get length() {
    return this.m.size;
  }
  key(i: number) {
    return [...this.m.keys()][i] ?? null;
  }
  getItem(k: string) {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.m.set(k, v);
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
  keys() {
    return [...this.m.keys()].sort();
  }
}

describe('signing out on a shared computer', () => {
  it("removes the user's drafts, outbox, activity and preferences, and nothing else", () => {
    const s = new MemoryStorage();
    s.setItem('enclave.draft.u1.c1', 'private text, half written');
    s.setItem('enclave.draft.u1.c1:m9', 'a thread reply');
    s.setItem('enclave.outbox.u1', '[]');
    s.setItem('enclave.activity.u1', '{}');
    s.setItem('enclave.prefs', '{"theme":"dark","lang":"zh-CN"}');
    s.setItem('enclave.notifyAsked', '1');
    s.setItem('other-app', 'kept');
    const removed = clearUserStorage(s);
    expect(removed).toHaveLength(6);
    expect(s.keys()).toEqual(['other-app']);
  });
});
