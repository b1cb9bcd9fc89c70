import { describe, expect, it } from 'vitest';
import { backoffDelay, closeAction, PositionTracker, socketUrl } from '../src/lib/resume';

describe('PositionTracker', () => {
  it('starts fresh, then resumes from the last position applied', () => {
    const t = new PositionTracker();
    expect(t.since()).toBeNull();
    expect(t.hello(100)).toBe('fresh');
    expect(t.accept(101)).toBe(true);
    expect(t.accept(105)).toBe(true);
    expect(t.since()).toBe(105);
    // A reconnection with since=105 gets hello.position=105 and replays what follows.
    expect(t.hello(105)).toBe('resumed');
    expect(t.since()).toBe(105);
  });

  it('drops frames already applied (no duplicates across a reconnection)', () => {
    const t = new PositionTracker();
    t.hello(10);
    const applied: number[] = [];
    for (const p of [11, 12, 12, 11, 13, 13, 14]) if (t.accept(p)) applied.push(p);
    expect(applied).toEqual([11, 12, 13, 14]);
  });

  it('resync forgets the position so the next hello reloads state', () => {
    const t = new PositionTracker();
    t.hello(10);
    t.accept(20);
    t.reset();
    expect(t.since()).toBeNull();
    expect(t.hello(500)).toBe('fresh');
    expect(t.accept(400)).toBe(false);
    expect(t.accept(501)).toBe(true);
  });
});

describe('reconnection', () => {
  it('backs off exponentially with jitter, capped at 30 s', () => {
    expect(backoffDelay(0, () => 0.5)).toBe(500);
    expect(backoffDelay(1, () => 0.5)).toBe(1000);
    expect(backoffDelay(3, () => 0.5)).toBe(4000);
    expect(backoffDelay(20, () => 0.5)).toBe(30000);
    expect(backoffDelay(0, () => 0)).toBe(350);
    expect(backoffDelay(0, () => 1)).toBe(650);
  });

  it('builds the gateway URL', () => {
    expect(socketUrl({ protocol: 'http:', host: 'h:8080' }, null)).toBe('ws://h:8080/api/v1/ws');
    expect(socketUrl({ protocol: 'https:', host: 'chat.example' }, 42)).toBe('wss://chat.example/api/v1/ws?since=42');
  });

  it('maps close codes', () => {
    expect(closeAction(4001)).toBe('logout');
    expect(closeAction(4010)).toBe('resync');
    expect(closeAction(1001)).toBe('reconnect');
    expect(closeAction(4008)).toBe('reconnect');
    expect(closeAction(1006)).toBe('reconnect');
  });
});
