// Screenshots of the main screens for the README: desktop light and dark, a phone, and the
// Chinese interface. Seeds a small workspace through the API first.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Api, until } from './harness.mjs';

export async function seed(base, admin, password) {
  const users = {};
  const people = [
    ['alice', 'Alice Chen'],
    ['bob', 'Bob Li'],
    ['carol', 'Carol Wang'],
    ['david', 'David Zhao'],
    ['erin', 'Erin Sato'],
    ['xiaoming', '王小明'],
    ['lina', '李娜'],
    ['zhangwei', '张伟'],
  ];
  for (const [username, display_name] of people) {
    const existing = (await admin.get(`/users?q=${username}`)).users.find((u) => u.username === username);
    users[username] = existing ?? (await admin.post('/users', { username, display_name, password }));
    if (existing) await admin.patch(`/users/${existing.id}`, { display_name });
  }
  const as = {};
  for (const [u] of people) as[u] = await Api.login(base, u, password);

  const mkChannel = async (owner, name, topic, kind = 'public', members = []) => {
    const c = await as[owner].post('/channels', { name, kind, topic });
    for (const m of members) await as[owner].post(`/channels/${c.id}/members`, { user_id: users[m].id });
    return c;
  };
  const say = (who, ch, text, extra = {}) => as[who].post(`/channels/${ch.id}/messages`, { text, ...extra });

  const team = ['alice', 'bob', 'carol', 'david', 'erin'];
  const eng = await mkChannel('carol', 'engineering', 'Build, ship, repeat · v2.4 ships Thursday', 'public', team.filter((u) => u !== 'carol'));
  const general = await mkChannel('bob', 'announcements', 'Company news', 'public', [...team.filter((u) => u !== 'bob'), 'xiaoming', 'lina', 'zhangwei']);
  const design = await mkChannel('erin', 'design', 'Pixels and prototypes', 'public', ['alice', 'bob', 'carol']);
  const random = await mkChannel('david', 'random', 'Water-cooler chat', 'public', ['alice', 'bob', 'erin']);
  await mkChannel('alice', 'leadership', 'Private planning', 'private', ['carol']);
  const product = await mkChannel('xiaoming', '产品讨论', '下个版本的需求和排期', 'public', ['alice', 'lina', 'zhangwei', 'bob']);

  await say('carol', eng, 'Morning team! The **v2.4 release** is scheduled for Thursday. Remaining items:\n- finish the migration guide\n- API docs for webhooks\n- overnight load test');
  const load = await say('david', eng, 'Staging is green again after the `db-migrate` fix 🚀');
  const cfg = await say('bob', eng, 'Nice! This is the config I used for the soak run:\n```toml\n[auth]\nsession_ttl_days = 30\nmax_failures_per_account = 10\n```');
  const root = await say('carol', eng, 'Can someone review the migration PR before lunch? It touches the retention job.');
  await say('erin', eng, '> Is the rollback plan documented?\nYes, it is in the runbook: https://wiki.example.com/runbooks/rollback');
  const mine = await say('alice', eng, 'Great work @david! I will update the changelog and tag the release candidate. :tada:');
  await say('david', eng, '@alice can you double-check the dashboard numbers before the 3 pm sync?');
  for (const [who, e] of [['alice', '🚀'], ['bob', '🚀'], ['carol', '🚀'], ['erin', '🎉'], ['carol', '🎉']]) {
    await as[who].put(`/messages/${load.id}/reactions/${encodeURIComponent(e)}`);
  }
  for (const [who, e] of [['carol', '👀'], ['david', '👍']]) await as[who].put(`/messages/${cfg.id}/reactions/${encodeURIComponent(e)}`);
  for (const [who, e] of [['carol', '✅'], ['bob', '❤️']]) await as[who].put(`/messages/${mine.id}/reactions/${encodeURIComponent(e)}`);
  await say('bob', eng, 'On it. Left two comments about the batch size.', { thread_root_id: root.id });
  await say('david', eng, 'Approved from my side 👍', { thread_root_id: root.id });
  await say('carol', eng, 'Thanks both, merging after CI is green.', { thread_root_id: root.id });
  await as['carol'].put(`/messages/${root.id}/pin`);

  await say('bob', general, 'The office will be closed on Monday for maintenance.');
  await say('carol', general, 'Reminder: quarterly review slides are due Friday.');
  await say('david', general, 'Welcome @channel to our two new teammates!');
  await say('erin', design, '@alice the new onboarding mockups are ready for review 🎨');
  await say('bob', random, 'Anyone up for lunch at the noodle place?');

  const dmBob = await as.bob.post('/dms', { user_ids: [users.alice.id] });
  await say('bob', dmBob, 'Do you have a minute to talk about the roadmap?');
  await say('bob', dmBob, 'No rush, after the sync is fine.');
  const dmCarol = await as.carol.post('/dms', { user_ids: [users.alice.id] });
  await say('alice', dmCarol, 'Thanks for the review!');
  const group = await as.david.post('/dms', { user_ids: [users.alice.id, users.erin.id] });
  await say('david', group, 'Pizza on Friday?');

  // The Chinese workspace.
  await say('xiaoming', product, '大家好！下周一开始 **3.0 版本**的需求评审，请提前准备：\n- 用户反馈汇总\n- 竞品分析\n- 排期初稿');
  const zh1 = await say('lina', product, '收到 👍 用户反馈我这边已经整理好了，主要集中在消息搜索和文件预览。');
  await say('zhangwei', product, '搜索这块我们已经支持中文分词了，`jieba` 效果不错。');
  const zh2 = await say('alice', product, '@xiaoming 排期初稿我周五前发出来。');
  await say('xiaoming', product, '好的，辛苦了 :tada:');
  for (const [who, e] of [['xiaoming', '👍'], ['zhangwei', '👍'], ['alice', '❤️']]) await as[who].put(`/messages/${zh1.id}/reactions/${encodeURIComponent(e)}`);
  await as.lina.put(`/messages/${zh2.id}/reactions/${encodeURIComponent('✅')}`);
  await say('lina', product, '文件预览的问题我开个话题细聊。', {});
  const dmZh = await as.lina.post('/dms', { user_ids: [users.xiaoming.id] });
  await say('lina', dmZh, '明天的会议改到下午两点可以吗？');
  await say('zhangwei', general, '欢迎新同事加入！');

  return { users, as, eng, product, root, dmBob };
}

/**
 * Opens WebSockets for some users (token auth) from a page of its own, without anyone's session
 * cookie, so that they show as online and can type.
 */
async function bringOnline(browser, base, tokens) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(base + '/');
  await page.evaluate(
    ({ base, tokens }) => {
      const w = window;
      w.__sockets = w.__sockets ?? [];
      for (const tk of tokens) {
        const ws = new WebSocket(base.replace('http', 'ws') + '/api/v1/ws?token=' + encodeURIComponent(tk));
        w.__sockets.push(ws);
      }
    },
    { base, tokens },
  );
  await page.waitForFunction(() => window.__sockets.every((ws) => ws.readyState === 1));
  return page;
}

/** One of the online users (by position in bringOnline's list) types in a channel. */
async function typingFrom(online, channelId, index = 0) {
  await online.evaluate(
    ({ cid, index }) => {
      window.__sockets[index].send(JSON.stringify({ type: 'typing', channel_id: cid, thread_root_id: null }));
    },
    { cid: channelId, index },
  );
}

async function loginAs(browser, base, username, password, opts) {
  const ctx = await browser.newContext(opts);
  await ctx.grantPermissions(['notifications'], { origin: base });
  const page = await ctx.newPage();
  await page.goto(base + '/');
  await page.locator('input[name="login"]').fill(username);
  await page.locator('input[name="password"]').fill(password);
  await page.locator('form button[type="submit"]').click();
  await page.locator('.sidebar').waitFor();
  return page;
}

async function settle(page) {
  await page.evaluate(() => document.fonts?.ready);
  await page.mouse.move(5, 5);
  await page.waitForTimeout(600);
}

export async function takeScreenshots({ browser, base, admin, password, out }) {
  mkdirSync(out, { recursive: true });
  const { as, eng, product, root } = await seed(base, admin, password);
  const online = await bringOnline(browser, base, [as.bob.token, as.carol.token, as.david.token, as.erin.token, as.lina.token]);

  // Login page (light).
  {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light', locale: 'en-US' });
    const page = await ctx.newPage();
    await page.goto(base + '/');
    await page.locator('input[name="login"]').waitFor();
    await settle(page);
    await page.screenshot({ path: join(out, 'login.png') });
    await ctx.close();
  }

  for (const scheme of ['light', 'dark']) {
    const page = await loginAs(browser, base, 'alice', password, {
      viewport: { width: 1440, height: 900 },
      colorScheme: scheme,
      locale: 'en-US',
      deviceScaleFactor: 1,
    });
    await page.locator(`.sidebar [data-channel-id="${eng.id}"]`).click();
    await page.locator('.conv .msg', { hasText: 'dashboard numbers' }).waitFor();
    if (scheme === 'light') {
      await page.goto(`${base}/c/${eng.id}/t/${root.id}`);
      await page.locator('.panel .msg', { hasText: 'merging after CI' }).waitFor();
    }
    await until('presence', async () => (await page.locator('.presence-online').count()) > 0, 10_000);
    await typingFrom(online, eng.id);
    await page.locator('.typing-line', { hasText: 'typing' }).waitFor({ timeout: 5000 }).catch(() => {});
    await settle(page);
    if (scheme === 'dark') {
      // Show the hover toolbar on one message.
      await page.locator('.conv .msg', { hasText: 'config I used' }).hover();
      await page.waitForTimeout(200);
    }
    await page.screenshot({ path: join(out, `desktop-${scheme}.png`) });
    await page.context().close();
  }

  // Message search (light): highlighted hits, filters.
  {
    const page = await loginAs(browser, base, 'alice', password, { viewport: { width: 1440, height: 900 }, colorScheme: 'light', locale: 'en-US' });
    await page.locator(`.sidebar [data-channel-id="${eng.id}"]`).click();
    await page.locator('.conv .msg', { hasText: 'dashboard numbers' }).waitFor();
    await page.locator('.search-open').click();
    await page.locator('.search-input').fill('migration');
    await page.locator('.search-result mark').first().waitFor();
    await settle(page);
    await page.screenshot({ path: join(out, 'search.png') });
    await page.context().close();
  }

  // Administration.
  {
    const page = await loginAs(browser, base, 'admin', password, { viewport: { width: 1440, height: 900 }, colorScheme: 'light', locale: 'en-US' });
    await page.goto(base + '/admin');
    await page.locator('.table tr[data-username="alice"]').waitFor();
    await settle(page);
    await page.screenshot({ path: join(out, 'admin.png') });
    await page.context().close();
  }

  // Review shots of dialogs (not published): the quick switcher, settings, new message.
  if (process.env.E2E_REVIEW_SHOTS) {
    const dir = process.env.E2E_REVIEW_SHOTS;
    mkdirSync(dir, { recursive: true });
    for (const scheme of ['light', 'dark']) {
      const page = await loginAs(browser, base, 'alice', password, { viewport: { width: 1280, height: 800 }, colorScheme: scheme, locale: 'en-US' });
      await page.locator(`.sidebar [data-channel-id="${eng.id}"]`).click();
      await page.keyboard.press('Control+k');
      await page.locator('.switcher input').fill('e');
      await settle(page);
      await page.screenshot({ path: join(dir, `switcher-${scheme}.png`) });
      await page.keyboard.press('Escape');
      await page.locator('.me-btn').click();
      await settle(page);
      await page.screenshot({ path: join(dir, `menu-${scheme}.png`) });
      await page.locator('.menu-item', { hasText: 'Settings' }).click();
      await page.locator('.settings .tab', { hasText: 'Preferences' }).click();
      await settle(page);
      await page.screenshot({ path: join(dir, `settings-${scheme}.png`) });
      await page.keyboard.press('Escape');
      await page.locator('.sidebar button[aria-label="New message"]').click();
      await page.locator('.modal .user-row').first().waitFor();
      await page.locator('.modal .user-row').nth(1).click();
      await settle(page);
      await page.screenshot({ path: join(dir, `newdm-${scheme}.png`) });
      await page.keyboard.press('Escape');
      await page.locator('.sidebar .side-item', { hasText: 'Browse channels' }).click();
      await page.locator('.modal .browse-row').first().waitFor();
      await settle(page);
      await page.screenshot({ path: join(dir, `browse-${scheme}.png`) });
      await page.keyboard.press('Escape');
      await page.locator('.sidebar .side-item', { hasText: 'People' }).click();
      await page.locator('.modal .person-card').first().waitFor();
      await settle(page);
      await page.screenshot({ path: join(dir, `people-${scheme}.png`) });
      await page.locator('.modal .person-card').first().click();
      await settle(page);
      await page.screenshot({ path: join(dir, `profile-${scheme}.png`) });
      await page.keyboard.press('Escape');
      await page.locator('.conv-head .head-btn[aria-label="Members"]').click();
      await settle(page);
      await page.screenshot({ path: join(dir, `members-${scheme}.png`) });
      await page.locator('.conv-head .head-btn[aria-label="Pinned messages"]').click();
      await page.locator('.panel .pin-card').first().waitFor();
      await settle(page);
      await page.screenshot({ path: join(dir, `pins-${scheme}.png`) });
      const box = page.locator('.conv .composer textarea');
      await box.fill('Hi @d');
      await settle(page);
      await page.screenshot({ path: join(dir, `mention-${scheme}.png`) });
      await box.fill('');
      await page.locator('.conv .msg', { hasText: 'config I used' }).hover();
      await page.locator('.conv .msg', { hasText: 'config I used' }).locator('.toolbar button[aria-label="Add reaction"]').click();
      await settle(page);
      await page.screenshot({ path: join(dir, `picker-${scheme}.png`) });
      await page.keyboard.press('Escape');
      await page.context().close();
    }
  }

  // Phone: the conversation, and the sidebar.
  {
    const opts = { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2, colorScheme: 'light', locale: 'en-US' };
    const page = await loginAs(browser, base, 'alice', password, opts);
    await until('presence', async () => (await page.locator('.presence-online').count()) > 0, 10_000);
    await settle(page);
    await page.screenshot({ path: join(out, 'phone-sidebar.png') });
    await page.locator(`.sidebar [data-channel-id="${eng.id}"]`).tap();
    await page.locator('.conv .msg', { hasText: 'dashboard numbers' }).waitFor();
    await settle(page);
    await page.screenshot({ path: join(out, 'phone.png') });
    await page.context().close();
  }

  // Chinese.
  {
    const page = await loginAs(browser, base, 'xiaoming', password, {
      viewport: { width: 1440, height: 900 },
      colorScheme: 'light',
      locale: 'zh-CN',
    });
    await page.locator(`.sidebar [data-channel-id="${product.id}"]`).click();
    await page.locator('.conv .msg', { hasText: '辛苦了' }).waitFor();
    await until('presence', async () => (await page.locator('.presence-online').count()) > 0, 10_000);
    await typingFrom(online, product.id, 4);
    await settle(page);
    await page.screenshot({ path: join(out, 'zh-CN.png') });
    await page.context().close();
  }
  await online.context().close();
}
