// Resume bookkeeping for the real-time connection: the last event position seen, which frames
// are new, when to reload state, and how long to wait before reconnecting.

export type HelloOutcome =
  /** Connected without a position (first time, or after a resync): reload state over REST. */
  | 'fresh'
  /** Resumed from the position held: the server replays what was missed. */
  | 'resumed';

export class PositionTracker {
  /** The last event position applied, or null when state must be (re)loaded. */
  position: number | null = null;

  /** The `since` to connect with. */
  since(): number | null {
    return this.position;
  }

  /** Handles the `hello` frame of a new connection. */
  hello(helloPosition: number): HelloOutcome {
    if (this.position === null) {
      this.position = helloPosition;
      return 'fresh';
    }
    return 'resumed';
  }

  /** Whether an event frame is new (and, if so, records its position). */
  accept(position: number): boolean {
    if (this.position !== null && position <= this.position) return false;
    this.position = position;
    return true;
  }

  /** The position is no longer usable (`resync_required`): the next connection starts fresh. */
  reset() {
    this.position = null;
  }
}

/** Delay before reconnection attempt `attempt` (0-based): exponential from 0.5 s to 30 s, ±30 %. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 500 * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.7 + 0.6 * random()));
}

/** The gateway URL for a page location. */
export function socketUrl(loc: { protocol: string; host: string }, since: number | null): string {
  const proto = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${loc.host}/api/v1/ws` + (since === null ? '' : `?since=${since}`);
}

/** What to do when the socket closes with `code`. */
export function closeAction(code: number): 'reconnect' | 'resync' | 'logout' | 'stop' {
  switch (code) {
    case 4001:
      return 'logout';
    case 4010:
      return 'resync';
    case 4002:
      // The server refused our frames; reconnecting is still the best we can do, but slowly.
      return 'reconnect';
    default:
      return 'reconnect';
  }
}
