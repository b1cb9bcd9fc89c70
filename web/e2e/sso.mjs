// Single sign-on in real headless Chromium: the real server, and a real OIDC provider (npm
// oidc-provider, tests/oidc-provider/server.mjs) on loopback. The browser clicks the provider's
// button, signs in on the provider's own login page, consents, comes back signed in; an
// administrator sees the provider in the "Single sign-on" tab; a refused callback lands on the
// login page with a message; with password sign-in off the password form is hidden. English,
// Chinese and a phone-sized viewport, with screenshots in web/e2e/.tmp (sso-*.png).
//
//   npm run e2e:sso         (exit status 1 on any failure)
//
// Skipped (exit 0, with the reason) without Chromium or without `npm ci` in tests/oidc-provider,
// except with CI=true.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Api, ROOT, Server, TMP, enclaveBinary, findChromium, launchBrowser, until } from './harness.mjs';

const CI = /^(1|true|yes)$/i.test(process.env.CI ?? '');
const PASSWORD = 'correct-horse-battery';
const IDP_DIR = join(ROOT, 'tests', 'oidc-provider');

function skip(msg) {
  if (CI) {
    console.error(`e2e:sso: ${msg}; this test must run in CI.`);
    process.exit(1);
  }
  console.log(`e2e:sso: SKIPPED: ${msg}.`);
  process.exit(0);
}
if (!findChromium()) skip('Chromium not found');
if (!existsSync(join(IDP_DIR, 'node_modules', 'oidc-provider'))) skip('run `npm ci` in tests/oidc-provider');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function startIdp(redirect) {
  return new Promise((resolve, reject) => {
    const proc = spawn('node', ['server.mjs', '--redirect', redirect], { cwd: IDP_DIR, stdio: ['ignore', 'pipe', 'ignore'] });
    const timer = setTimeout(() => reject(new Error('the OIDC provider did not start')), 20_000);
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = /^READY (\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, issuer: m[1] });
      }
    });
    proc.on('exit', (code) => reject(new Error(`the OIDC provider exited with ${code}`)));
  });
}

const results = [];
let failed = false;
async function step(name, f) {
  const start = Date.now();
  try {
    await f();
    results.push(name);
    console.log(`  ✓ ${name} (${Date.now() - start} ms)`);
  } catch (e) {
    failed = true;
    console.error(`  ✗ ${name}\n    ${String(e?.stack ?? e).split('\n').slice(0, 6).join('\n    ')}`);
    throw e;
  }
}

const bin = enclaveBinary();
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const idp = await startIdp(`${base}/auth/oidc/corp/callback`);

function serverWith(issuer, extra) {
  const s = new Server(bin);
  const env = s.env.bind(s);
  s.env = () => ({
    ...env(),
    ENCLAVE_OUTBOUND__ALLOW_PLAIN_HTTP: 'true',
    ENCLAVE_OIDC__PUBLIC_URL: base,
    ENCLAVE_OIDC__PROVIDERS: `[{ id = "corp", label = "Corporate SSO", issuer = "${issuer}", client_id = "enclave", client_secret = "enclave-test-secret", scopes = ["email", "profile", "groups"], groups_claim = "groups", group_roles = { "it-admins" = ["system_admin"] }, group_departments = { "staff" = "Staff/Everyone" } }]`,
    ...extra,
  });
  return s;
}

const server = serverWith(idp.issuer, {});
server.createAdmin('admin', PASSWORD);
await server.start(`127.0.0.1:${port}`);
const browser = await launchBrowser();
const pages = [];

async function newPage(opts = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', ...opts });
  const page = await ctx.newPage();
  pages.push(page);
  return page;
}

/** On the provider's pages: sign in as `login` and consent. */
async function atProvider(page, login) {
  await page.waitForURL((u) => u.toString().startsWith(idp.issuer));
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password');
  await page.locator('button[type="submit"]').click();
  // The consent page (first time only).
  await page.waitForURL((u) => !u.toString().includes('/interaction/') || u.toString().startsWith(base), { timeout: 5000 }).catch(() => {});
  if (page.url().startsWith(idp.issuer)) {
    await page.locator('button[type="submit"]').first().click();
  }
  await page.waitForURL((u) => u.toString().startsWith(base));
}

try {
  await step('the login page shows the provider button and the password form (en)', async () => {
    const P = await newPage();
    await P.goto(base + '/');
    const button = P.locator('.sso-btn[data-provider="corp"]');
    await button.waitFor();
    if ((await button.textContent()) !== 'Sign in with Corporate SSO') throw new Error(await button.textContent());
    await P.locator('input[name="password"]').waitFor();
    await P.screenshot({ path: join(TMP, 'sso-login-en.png') });
  });

  await step('Alice signs in through the provider and lands in the app', async () => {
    const P = await newPage();
    await P.goto(base + '/');
    await P.locator('.sso-btn[data-provider="corp"]').click();
    await atProvider(P, 'alice');
    await P.locator('.sidebar').waitFor();
    // The one-time code left the address bar.
    if (P.url().includes('sso_code')) throw new Error(P.url());
    const me = await P.evaluate(() => fetch('/api/v1/users/me').then((r) => r.json()));
    if (me.username !== 'alice' || me.is_admin !== true) throw new Error(JSON.stringify(me));
  });

  await step('the admin console shows the provider (en, zh-CN, phone)', async () => {
    for (const [locale, viewport, name] of [
      ['en-US', { width: 1280, height: 800 }, 'sso-admin-en'],
      ['zh-CN', { width: 1280, height: 800 }, 'sso-admin-zh'],
      ['en-US', { width: 375, height: 740 }, 'sso-admin-phone'],
    ]) {
      const P = await newPage({ locale, viewport });
      await P.goto(base + '/');
      await P.locator('input[name="login"]').fill('admin');
      await P.locator('input[name="password"]').fill(PASSWORD);
      await P.locator('form button[type="submit"]').click();
      await P.locator('.sidebar, .admin, .conv').first().waitFor();
      await P.goto(base + '/admin');
      const tab = P.locator('[role="tab"]', { hasText: locale === 'zh-CN' ? '单点登录' : 'Single sign-on' });
      await tab.click();
      const row = P.locator('.sso-table tr[data-provider="corp"]');
      await row.waitFor();
      await until('linked count', async () => (await row.locator('.sso-linked').textContent()) === '1');
      await until('reachable', async () => (await row.locator('.status-pill').textContent())?.length > 0);
      await P.screenshot({ path: join(TMP, `${name}.png`), fullPage: true });
    }
  });

  await step('a refused callback lands on the login page with a message (zh-CN)', async () => {
    const P = await newPage({ locale: 'zh-CN' });
    await P.goto(base + '/auth/oidc/corp/callback?state=forged&code=forged');
    const alert = P.locator('.form-error[role="alert"]');
    await alert.waitFor();
    if (!(await alert.textContent()).includes('单点登录')) throw new Error(await alert.textContent());
    await P.screenshot({ path: join(TMP, 'sso-error-zh.png') });
    const api = await Api.login(base, 'admin', PASSWORD);
    const page = await api.get('/admin/audit?action=sign_in_failed&limit=50');
    if (!JSON.stringify(page).includes('unknown or used state')) throw new Error('no audit entry');
  });

  await step('signing out ends the provider session too', async () => {
    const P = await newPage();
    await P.goto(base + '/');
    await P.locator('.sso-btn[data-provider="corp"]').click();
    await atProvider(P, 'bob');
    await P.locator('.sidebar').waitFor();
    const logout = await P.evaluate(async () => {
      await fetch('/api/v1/auth/logout', { method: 'POST' });
      const r = await fetch('/auth/oidc/corp/logout', { redirect: 'manual' });
      return r.type;
    });
    if (logout !== 'opaqueredirect') throw new Error(logout);
    await P.goto(base + '/auth/oidc/corp/logout');
    await P.waitForURL((u) => u.toString().startsWith(idp.issuer));
  });
} catch {
  // reported by step()
} finally {
  if (failed) {
    for (const [i, p] of pages.entries()) await p.screenshot({ path: join(TMP, `sso-failure-${i}.png`) }).catch(() => {});
  }
  await browser.close().catch(() => {});
  await server.dispose();
  idp.proc.kill();
}

// Password sign-in off: only the button, and the administrators' link to the password form.
if (!failed) {
  const idp2 = await startIdp(`${base}/auth/oidc/corp/callback`);
  const only = serverWith(idp2.issuer, { ENCLAVE_AUTH__LOCAL_PASSWORDS: 'false' });
  only.createAdmin('admin', PASSWORD);
  await only.start(`127.0.0.1:${port}`);
  const b2 = await launchBrowser();
  try {
    await step('with local passwords off the password form is hidden (en, phone)', async () => {
      const ctx = await b2.newContext({ viewport: { width: 375, height: 740 }, locale: 'en-US' });
      const P = await ctx.newPage();
      await P.goto(base + '/');
      await P.locator('.sso-btn').waitFor();
      if (await P.locator('input[name="password"]').count()) throw new Error('password form shown');
      await P.screenshot({ path: join(TMP, 'sso-only-phone.png') });
      await P.locator('.admin-password').click();
      await P.locator('input[name="password"]').waitFor();
    });
  } catch {
    // reported
  } finally {
    await b2.close().catch(() => {});
    await only.dispose();
    idp2.proc.kill();
  }
}

console.log(failed ? '\ne2e:sso: FAILED' : `\ne2e:sso: ${results.length} steps passed`);
process.exit(failed ? 1 : 0);
