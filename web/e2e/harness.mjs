// Test harness: the real `enclave` binary on a loopback port with a temporary data folder, a
// REST helper for setting up data, and headless Chromium driven by playwright-core.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = resolve(WEB, '..');
export const TMP = join(WEB, 'e2e', '.tmp');

const FAST_HASH = { ENCLAVE_AUTH__ARGON2_MEMORY_KIB: '64', ENCLAVE_AUTH__ARGON2_ITERATIONS: '1' };

export function findChromium() {
  if (process.env.CHROMIUM && existsSync(process.env.CHROMIUM)) return process.env.CHROMIUM;
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']) {
    if (existsSync(p)) return p;
  }
  const which = spawnSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' });
  const found = which.stdout?.trim();
  return found && existsSync(found) ? found : null;
}

/** The enclave binary, built (with the current web client embedded) unless E2E_ENCLAVE_BIN is set. */
export function enclaveBinary() {
  if (process.env.E2E_ENCLAVE_BIN) return process.env.E2E_ENCLAVE_BIN;
  const r = spawnSync('cargo', ['build', '--bin', 'enclave'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('cargo build --bin enclave failed');
  // Where cargo put it: CARGO_TARGET_DIR when set (relative to the workspace), else target/.
  const targetDir = process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, 'target');
  return join(targetDir, 'debug', 'enclave');
}

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

export class Server {
  /** `opts.config`: a configuration file every process of this server gets. */
  constructor(bin, opts = {}) {
    this.bin = bin;
    this.extra = opts.config ? ['--config', opts.config] : [];
    /** More ENCLAVE_* configuration for this server (`opts.env`). */
    this.extraEnv = opts.env ?? {};
    mkdirSync(TMP, { recursive: true });
    this.data = mkdtempSync(join(tmpdir(), 'enclave-e2e-'));
    // Scheduled backups (the admin console's Backups tab): the first one when the server starts.
    this.backups = mkdtempSync(join(tmpdir(), 'enclave-e2e-backups-'));
    this.proc = null;
    this.addr = null;
    this.log = createWriteStream(join(TMP, 'server.log'), { flags: 'a' });
  }

  env() {
    // The server reads every ENCLAVE_* variable as configuration: pass only ours.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ENCLAVE_')));
    return { ...env, ...FAST_HASH, ENCLAVE_BACKUP__TO: this.backups, NO_COLOR: '1', ...this.extraEnv };
  }

  createAdmin(name, password) {
    const r = spawnSync(this.bin, [...this.extra, '--data', this.data, 'admin', 'create-user', name, '--admin', '--password', password], {
      env: this.env(),
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`admin create-user failed: ${r.stderr}`);
  }

  /** Starts the server; `listen` defaults to a free port, later starts reuse the first address. */
  start(listen = this.addr ?? '127.0.0.1:0') {
    return new Promise((resolveStart, reject) => {
      const proc = spawn(this.bin, [...this.extra, '--data', this.data, 'serve', '--listen', listen], {
        env: this.env(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      this.proc = proc;
      let buf = '';
      const timer = setTimeout(() => reject(new Error('server did not start in 20 s:\n' + buf)), 20_000);
      const onData = (chunk) => {
        const s = chunk.toString();
        this.log.write(s);
        buf += s;
        const m = /listening on (https?):\/\/(\S+)/.exec(stripAnsi(buf));
        if (m && !this.started) {
          this.started = true;
          clearTimeout(timer);
          this.addr = m[2].replace(/[",}].*$/, '');
          resolveStart(this.url);
        }
      };
      this.started = false;
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.on('exit', (code) => {
        if (!this.started) {
          clearTimeout(timer);
          reject(new Error(`server exited with ${code}:\n${buf}`));
        }
      });
    });
  }

  get url() {
    return `http://${this.addr}`;
  }

  /** Stops the server (SIGTERM, graceful) and waits for it to exit. */
  async stop() {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
    this.proc = null;
  }

  async dispose() {
    await this.stop();
    this.log.end();
    rmSync(this.data, { recursive: true, force: true });
  }
}

/** A small REST client for setting up data. */
export class Api {
  constructor(base, token = null) {
    this.base = base;
    this.token = token;
  }

  async call(method, path, body) {
    const resp = await fetch(this.base + '/api/v1' + path, {
      method,
      headers: {
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await resp.text();
    const data = text ? JSON.parse(text) : null;
    if (!resp.ok) throw new Error(`${method} ${path}: ${resp.status} ${text}`);
    return data;
  }

  static async login(base, login, password) {
    const r = await new Api(base).call('POST', '/auth/login', { login, password });
    return new Api(base, r.token);
  }

  get(p) {
    return this.call('GET', p);
  }
  post(p, b = {}) {
    return this.call('POST', p, b);
  }
  patch(p, b = {}) {
    return this.call('PATCH', p, b);
  }
  put(p) {
    return this.call('PUT', p);
  }
}

export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  const executablePath = findChromium();
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
      '--disable-renderer-backgrounding',
      '--disable-background-timer-throttling',
      '--disable-backgrounding-occluded-windows',
    ],
  });
}

/** Polls `f` until it returns a truthy value. */
export async function until(what, f, timeout = 20_000) {
  const start = Date.now();
  let last;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() - start > timeout) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
