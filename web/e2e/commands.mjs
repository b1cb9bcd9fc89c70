// End-to-end steps for slash commands (issue 16, docs/api/integrations.md): the composer's
// autocomplete, built-ins, answers only the caller sees, Chinese help, and a custom command
// made in the admin console that calls a receiver written here on 127.0.0.1, which checks
// Slack's v0 signature with node's HMAC and follows up through its response_url; the topic
// notice in both languages. Run by run.mjs
// on a server of its own (its outbound allow-list names the receiver).

import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { Api, Server, TMP, until } from './harness.mjs';

const visible = (locator, timeout = 20_000) => locator.first().waitFor({ state: 'visible', timeout });

async function login(page, base, username, password) {
  await page.goto(base + '/');
  await page.locator('input[name="login"]').fill(username);
  await page.locator('input[name="password"]').fill(password);
  await page.locator('form button[type="submit"]').click();
  await page.locator('.sidebar').waitFor();
}

async function openChannel(page, id) {
  await page.locator(`.sidebar [data-channel-id="${id}"]`).click();
  await page.locator('.conv .composer textarea').first().waitFor();
}

async function type(page, text) {
  const box = page.locator('.conv .composer textarea').first();
  await box.click();
  await box.fill(text);
  await box.press('Enter');
}

/** A Slack-style command receiver: checks the signature, records the fields, answers. */
function startReceiver() {
  const got = [];
  const state = { secret: '' };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const ts = req.headers['x-slack-request-timestamp'] ?? '';
      const sig = String(req.headers['x-slack-signature'] ?? '');
      const want = 'v0=' + createHmac('sha256', state.secret).update(`v0:${ts}:${body}`).digest('hex');
      const ok = sig.length === want.length && timingSafeEqual(Buffer.from(sig), Buffer.from(want));
      const fields = Object.fromEntries(new URLSearchParams(body));
      got.push({ ok, fields });
      const text = fields.text ?? '';
      const answer = text.startsWith('public ')
        ? { response_type: 'in_channel', text: `Forecast for ${text.slice(7)}: *sunny*` }
        : { text: `Only for you: ${text}` };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, got, state, port: server.address().port })));
}

export async function slashCommands({ bin, step, newPage, password }) {
  const receiver = await startReceiver();
  const server = new Server(bin, {
    env: {
      ENCLAVE_OUTBOUND__ALLOW: `["127.0.0.1:${receiver.port}"]`,
      ENCLAVE_OUTBOUND__ALLOW_PRIVATE: '["127.0.0.1/32"]',
      ENCLAVE_OUTBOUND__ALLOW_PLAIN_HTTP: 'true',
    },
  });
  try {
    server.createAdmin('admin', password);
    const base = await server.start();
    const admin = await Api.login(base, 'admin', password);
    const mei = await admin.post('/users', { username: 'mei', display_name: '韩梅梅', password });
    const tom = await admin.post('/users', { username: 'tom', display_name: 'Tom Wu', password });
    const ops = await admin.post('/channels', { name: 'ops', kind: 'public' });
    for (const u of [mei, tom]) await admin.post(`/channels/${ops.id}/members`, { user_id: u.id });

    const M = await newPage();
    await login(M, base, 'mei', password);
    await openChannel(M, ops.id);
    const T = await newPage();
    await login(T, base, 'tom', password);
    await openChannel(T, ops.id);

    await step('slash commands: autocomplete, /topic and /me, an answer only the caller sees, an unknown command', async () => {
      const box = M.locator('.conv .composer textarea').first();
      await box.click();
      await box.fill('');
      await box.type('/to');
      await visible(M.locator('.autocomplete .ac-item', { hasText: '/topic' }));
      await M.screenshot({ path: join(TMP, 'commands-autocomplete-en.png') });
      await box.press('Tab');
      await until('Tab completes the command', async () => (await box.inputValue()) === '/topic ');
      await box.type('Budget 2027');
      await box.press('Enter');
      await visible(M.locator('.conv .msg-ephemeral', { hasText: 'Topic set to: Budget 2027' }));
      await visible(M.locator('.conv .msg-ephemeral', { hasText: 'Only visible to you' }));
      await visible(T.locator('.conv-topic', { hasText: 'Budget 2027' }));
      // Everyone sees the change as a notice in the conversation.
      await visible(T.locator('.conv .msg-notice', { hasText: '韩梅梅 set the topic: Budget 2027' }));
      if ((await T.locator('.msg-ephemeral').count()) !== 0) throw new Error('another member sees the answer');
      await type(M, '/me waves hello');
      await visible(T.locator('.conv .messages .msg em', { hasText: 'waves hello' }));
      await type(M, '/nosuch thing');
      await visible(M.locator('.toast', { hasText: '/nosuch is not a command' }));
      await until('the refused line comes back', async () => (await box.inputValue()) === '/nosuch thing');
      await box.fill('');
      await M.locator('.conv .msg-ephemeral .ephemeral-close').first().click();
      await until('dismissed', async () => (await M.locator('.conv .msg-ephemeral').count()) === 0);
    });

    await step('slash commands in Chinese: /help lists every command, translated; /status 开会中', async () => {
      const Z = await newPage({ locale: 'zh-CN' });
      await login(Z, base, 'tom', password);
      await openChannel(Z, ops.id);
      await visible(Z.locator('.conv .msg-notice', { hasText: '韩梅梅 将主题设为：Budget 2027' }));
      await type(Z, '/help');
      const help = Z.locator('.conv .msg-ephemeral', { hasText: '可用的命令' });
      await visible(help);
      await visible(help.locator('li', { hasText: '加入公开频道' }));
      await visible(Z.locator('.conv .msg-ephemeral', { hasText: '仅你可见' }));
      await type(Z, '/status 开会中');
      await visible(Z.locator('.conv .msg-ephemeral', { hasText: '你的状态现在是：开会中' }));
      await Z.screenshot({ path: join(TMP, 'commands-help-zh.png') });
      await Z.context().close();
    });

    await step('a custom command made in the admin console: a signed request to a loopback receiver, an answer for the caller, one in the channel, and a follow-up for the caller only', async () => {
      const A = await newPage();
      await login(A, base, 'admin', password);
      await A.goto(base + '/admin');
      await A.locator('.admin .tab', { hasText: 'Integrations' }).click();
      const form = A.locator('.integrations-commands form');
      await form.locator('input[aria-label="Trigger"]').fill('weather');
      await form.locator('input[type="url"]').fill(`http://127.0.0.1:${receiver.port}/slack`);
      await form.locator('input[aria-label="Description"]').fill('天气预报');
      await form.locator('input[aria-label="Usage hint"]').fill('[city]');
      await form.locator('button[type="submit"]').click();
      const secret = A.locator('.integrations-commands [data-testid="secret"]').first();
      await visible(secret);
      receiver.state.secret = (await secret.textContent()).trim();
      await visible(A.locator('.integrations-commands td code', { hasText: '/weather [city]' }));
      await visible(A.locator('.integrations-commands .secret-once', { hasText: 'The token sent in every request' }));
      // The console's many tabs wrap: nothing pushes the page sideways at 1280 px.
      const overflow = await A.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 0) throw new Error(`the admin console is ${overflow} px wider than the window`);
      await A.screenshot({ path: join(TMP, 'commands-admin-en.png'), fullPage: true });
      await A.context().close();

      // The composer offers it with its description.
      const box = M.locator('.conv .composer textarea').first();
      await box.click();
      await box.fill('');
      await box.type('/wea');
      await visible(M.locator('.autocomplete .ac-item', { hasText: '天气预报' }));
      await box.fill('');
      await type(M, '/weather 北京');
      await visible(M.locator('.conv .msg-ephemeral', { hasText: 'Only for you: 北京' }));
      await until('the receiver got the request', async () => receiver.got.length >= 1);
      const first = receiver.got[0];
      if (!first.ok) throw new Error('the signature did not check out');
      if (first.fields.command !== '/weather' || first.fields.text !== '北京' || first.fields.user_name !== 'mei') {
        throw new Error(`unexpected fields: ${JSON.stringify(first.fields)}`);
      }
      await type(M, '/weather public 上海');
      await visible(T.locator('.conv .messages .msg', { hasText: 'Forecast for 上海' }).locator('strong', { hasText: 'sunny' }));
      if ((await T.locator('.msg-ephemeral').count()) !== 0) throw new Error('another member sees an ephemeral answer');
      // The integration follows up later, through the response_url of the first call.
      // The server names itself `localhost` when it listens on a loopback address; it listens on
      // 127.0.0.1 only, which node may not try first for that name.
      const r = await fetch(first.fields.response_url.replace('://localhost:', '://127.0.0.1:'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'Update: rain at 18:00' }),
      });
      if (r.status !== 200 || (await r.text()) !== 'ok') throw new Error(`response_url answered ${r.status}`);
      await visible(M.locator('.conv .msg-ephemeral', { hasText: 'Update: rain at 18:00' }));
      await T.waitForTimeout(500);
      if ((await T.locator('.msg-ephemeral').count()) !== 0) throw new Error('another member sees the follow-up');
      await M.screenshot({ path: join(TMP, 'commands-answers-en.png') });
    });
    await M.context().close();
    await T.context().close();
  } finally {
    await server.dispose();
    receiver.server.close();
  }
}
