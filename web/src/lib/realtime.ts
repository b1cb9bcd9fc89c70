// The WebSocket connection: connects (with `since` when it holds a position), reconnects with
// back-off, watches liveness with application pings, drops frames it has already applied, and
// reports what happened to the client logic.

import { PositionTracker, backoffDelay, closeAction, socketUrl, type HelloOutcome } from './resume';
import type { ClientFrame, EventFrame, ServerFrame } from './types';

export interface RealtimeHandlers {
  status(s: 'connecting' | 'online' | 'offline'): void;
  hello(outcome: HelloOutcome, position: number): void;
  event(frame: EventFrame): void;
  ephemeral(frame: ServerFrame): void;
  /** Credentials were revoked: the user must log in again. */
  revoked(): void;
}

export class Realtime {
  readonly tracker = new PositionTracker();
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastHeard = 0;
  private heartbeatMs = 20_000;
  private stopped = true;
  private open = false;

  constructor(private readonly h: RealtimeHandlers) {}

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    document.addEventListener('visibilitychange', this.onVisible);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    document.removeEventListener('visibilitychange', this.onVisible);
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    this.open = false;
    if (ws) {
      ws.onclose = null;
      ws.close(1000);
    }
    this.tracker.reset();
  }

  get connected(): boolean {
    return this.open;
  }

  /** Sends a client frame; false when the socket is not open. */
  send(frame: ClientFrame): boolean {
    if (!this.ws || !this.open) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** Reconnects now (skipping the back-off wait) if the socket is down. */
  kick() {
    if (this.stopped || this.ws) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.connect();
  }

  private onOnline = () => this.kick();
  private onVisible = () => {
    if (document.visibilityState === 'visible') this.kick();
  };

  private clearTimers() {
    if (this.timer) clearTimeout(this.timer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.timer = null;
    this.pingTimer = null;
  }

  private connect() {
    this.h.status('connecting');
    let ws: WebSocket;
    try {
      ws = new WebSocket(socketUrl(location, this.tracker.since()));
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => {
      this.lastHeard = Date.now();
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      this.onFrame(frame);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.open = false;
      if (this.pingTimer) clearInterval(this.pingTimer);
      this.pingTimer = null;
      if (this.stopped) return;
      this.h.status('offline');
      switch (closeAction(ev.code)) {
        case 'logout':
          this.stopped = true;
          this.h.revoked();
          return;
        case 'resync':
          this.tracker.reset();
          this.attempt = 0;
          break;
        default:
          break;
      }
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows.
    };
  }

  private scheduleReconnect() {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt++);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped && !this.ws) this.connect();
    }, delay);
  }

  private onFrame(frame: ServerFrame) {
    if (frame.type === 'hello') {
      const f = frame as Extract<ServerFrame, { type: 'hello' }>;
      this.open = true;
      this.attempt = 0;
      this.heartbeatMs = Math.max(5, f.heartbeat_secs || 20) * 1000;
      this.lastHeard = Date.now();
      this.startPings();
      const outcome = this.tracker.hello(f.position);
      this.h.status('online');
      this.h.hello(outcome, f.position);
      return;
    }
    if ('position' in frame && typeof (frame as EventFrame).position === 'number') {
      const ev = frame as EventFrame;
      if (!this.tracker.accept(ev.position)) return;
      this.h.event(ev);
      return;
    }
    if (frame.type === 'error' && (frame as Extract<ServerFrame, { type: 'error' }>).code === 'resync_required') {
      this.tracker.reset();
      return;
    }
    this.h.ephemeral(frame);
  }

  private startPings() {
    if (this.pingTimer) clearInterval(this.pingTimer);
    const every = Math.min(this.heartbeatMs, 15_000);
    this.pingTimer = setInterval(() => {
      if (!this.ws || !this.open) return;
      if (Date.now() - this.lastHeard > every * 2 + 5_000) {
        // The peer went silent (a dead network path does not close the socket by itself).
        const ws = this.ws;
        ws.close(4000);
        ws.onclose?.(new CloseEvent('close', { code: 4000 }));
        return;
      }
      this.send({ type: 'ping', ref: String(Date.now()) });
    }, every);
  }
}
