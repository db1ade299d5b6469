// End-to-end tests of Parley's web client in a real browser: Debian's chromium driven by playwright-core.
// Starts the built server on a free port with a temporary data directory, runs the scenarios one after
// another (they share users, like a person would), writes screenshots to docs/screenshots/, and stops the
// server by its PID. Every wait is event based (locator.waitFor / waitForFunction), never a fixed sleep.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// Screenshots refresh docs/screenshots only when asked (PARLEY_SCREENSHOTS=1): a test run leaves the tree clean.
const shots = process.env.PARLEY_SCREENSHOTS === '1' ? join(root, 'docs', 'screenshots') : null;
const dll = join(root, 'src/Parley.Server/bin/Release/net10.0/Parley.Server.dll');
const WAIT = 20_000;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 800 };

let server, base, dataDir, browser, tmp;
const run = Date.now().toString(36);
const name = (n) => `${n}_${run}`;
const PASSWORD = 'correct horse battery';

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// A small real PNG (solid colour), made here so the test needs no fixture file.
function png(width, height, [r, g, b]) {
  const crcTable = Array.from({ length: 256 }, (_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
  const crc = (buf) => { let c = 0xffffffff; for (const x of buf) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4); ihdr[8] = 8; ihdr[9] = 2;
  const rows = [];
  for (let y = 0; y < height; y++) { rows.push(0); for (let x = 0; x < width; x++) rows.push(r, (g + y) & 255, (b + x) & 255); }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.from(rows))), chunk('IEND', Buffer.alloc(0))]);
}

async function http(method, path, body, token) {
  const res = await fetch(base + path, {
    method, headers: { ...(body ? { 'Content-Type': 'application/json' } : {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'parley-web-'));
  dataDir = join(tmp, 'data');
  if (shots) mkdirSync(shots, { recursive: true });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn('dotnet', [dll, `--urls=${base}`, `--DataDir=${dataDir}`, '--Auth:RegistrationsPerAddress=100000',
    '--Logging:LogLevel:Default=Warning',
    // A long history is sent over HTTP below; a small upload limit lets the "too large" error be shown cheaply.
    '--Messaging:SendBurst=1000', '--Files:MaxBytes=1048576'], { stdio: ['ignore', 'inherit', 'inherit'] });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try { if ((await fetch(`${base}/health/ready`)).ok) break; } catch { /* not listening yet */ }
    if (Date.now() > deadline || server.exitCode !== null) throw new Error('server did not become ready');
    await new Promise((r) => setTimeout(r, 200)); // polling interval while the server starts, not a sync point
  }
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  rmSync(tmp, { recursive: true, force: true });
});

const users = {};
async function newUser(key, { viewport = DESKTOP } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[${key}] page error:`, e.message));
  await page.goto(base + '/');
  users[key] = { context, page, username: name(key) };
  return users[key];
}

async function registerUi(page, username, nickname) {
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByLabel('Nickname (optional)').fill(nickname);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText('Connected').waitFor({ timeout: WAIT });
}

const conv = (page, who) => page.locator('#convs a.conv', { hasText: who });
async function openChat(page, who) {
  await conv(page, who).click();
  await page.locator('#composer').waitFor({ timeout: WAIT });
}
async function say(page, text) {
  await page.locator('#composer').fill(text);
  await page.locator('#composer').press('Enter');
  await page.locator('.msg.mine .text', { hasText: text }).first().waitFor({ timeout: WAIT });
}
const seen = (page, text) => page.locator('.msg .text', { hasText: text }).first().waitFor({ timeout: WAIT });
const shot = (page, file) => page.screenshot({ path: join(shots ?? tmp, file) });
const token = (page) => page.evaluate(() => JSON.parse(localStorage.getItem('parley.session')).tokens.accessToken);

test('register, log in screens and two users', async () => {
  const alice = await newUser('alice');
  await alice.page.getByRole('heading', { name: 'Log in to Parley' }).waitFor();
  await shot(alice.page, 'login-desktop.png');
  await registerUi(alice.page, alice.username, 'Alice');
  const bob = await newUser('bob');
  await registerUi(bob.page, bob.username, 'Bob');
  // logout and log back in
  await bob.page.getByRole('button', { name: 'Log out' }).click();
  await bob.page.getByLabel('Username').fill(bob.username);
  await bob.page.getByLabel('Password').fill(PASSWORD);
  await bob.page.getByRole('button', { name: 'Log in' }).click();
  await bob.page.getByText('Connected').waitFor({ timeout: WAIT });
  // a wrong password is said in plain words
  const stranger = await browser.newPage();
  await stranger.goto(base + '/');
  await stranger.getByLabel('Username').fill(bob.username);
  await stranger.getByLabel('Password').fill('wrong password!');
  await stranger.getByRole('button', { name: 'Log in' }).click();
  await stranger.getByRole('alert').getByText('Wrong username or password.').waitFor({ timeout: WAIT });
  await stranger.close();
});

test('befriend: search, request, accept', async () => {
  const { alice, bob } = users;
  await alice.page.getByRole('link', { name: 'Friends' }).click();
  await alice.page.getByLabel('Find people by name').fill(bob.username);
  await alice.page.getByRole('button', { name: 'Search' }).click();
  await alice.page.getByRole('button', { name: 'Add Bob' }).click();
  await alice.page.getByText('Friend request sent to Bob.').waitFor({ timeout: WAIT });
  await bob.page.getByRole('link', { name: 'Friends' }).click();
  await bob.page.getByRole('button', { name: 'Accept Alice' }).click({ timeout: WAIT });
  await bob.page.getByRole('button', { name: 'Message Alice' }).waitFor({ timeout: WAIT });
  await bob.page.locator('#friends .dot.on').waitFor({ timeout: WAIT }); // Alice is online
  await shot(bob.page, 'friends-desktop.png');
  await bob.page.getByRole('button', { name: 'Message Alice' }).click();
  await bob.page.locator('#composer').waitFor();
});

test('chat both ways with typing and read receipts', async () => {
  const { alice, bob } = users;
  await say(bob.page, 'Hi Alice!');
  await alice.page.locator('#convs .badge', { hasText: '1' }).waitFor({ timeout: WAIT });
  await openChat(alice.page, 'Bob');
  await seen(alice.page, 'Hi Alice!');
  // Bob's message is read by Alice: Bob sees the receipt
  await bob.page.locator('.msg.mine [data-receipt="read"]').waitFor({ timeout: WAIT });
  // typing indicator
  await alice.page.locator('#composer').pressSequentially('Hello B', { delay: 20 });
  await bob.page.getByText('Alice is typing…').waitFor({ timeout: WAIT });
  await alice.page.locator('#composer').press('Shift+Enter');
  await alice.page.locator('#composer').pressSequentially('second line');
  assert.equal(await alice.page.locator('#composer').inputValue(), 'Hello B\nsecond line');
  await alice.page.locator('#composer').press('Enter');
  await seen(bob.page, 'second line');
  await alice.page.locator('.msg.mine [data-receipt="read"]').last().waitFor({ timeout: WAIT });
});

test('an image is sent and the other side sees its thumbnail', async () => {
  const { alice, bob } = users;
  const file = join(tmp, 'picture.png');
  writeFileSync(file, png(64, 48, [200, 40, 90]));
  await alice.page.locator('#attach').setInputFiles(file);
  await alice.page.locator('.msg.mine img.thumb').waitFor({ timeout: WAIT });
  const img = bob.page.locator('.msg.theirs img.thumb').last();
  await img.waitFor({ timeout: WAIT });
  await bob.page.waitForFunction(() => [...document.querySelectorAll('.msg.theirs img.thumb')].some((i) => i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0), null, { timeout: WAIT });
  await alice.page.locator('.msg.mine [data-receipt="read"]').last().waitFor({ timeout: WAIT });
  await shot(alice.page, 'chat-desktop.png');
  // click opens full size
  await bob.page.getByRole('button', { name: 'Open photo full size' }).last().click();
  await bob.page.waitForFunction(() => { const i = document.getElementById('viewer-img'); return document.getElementById('viewer').open && i.naturalWidth === 64; }, null, { timeout: WAIT });
  await bob.page.keyboard.press('Escape');
});

test('recall removes the message on the other side; reply and delete for me', async () => {
  const { alice, bob } = users;
  await say(alice.page, 'oops, wrong chat');
  await seen(bob.page, 'oops, wrong chat');
  const mine = alice.page.locator('.msg.mine', { hasText: 'oops, wrong chat' });
  await mine.hover();
  await mine.getByRole('button', { name: 'Recall' }).click();
  await bob.page.locator('.msg.theirs', { hasText: 'This message was recalled.' }).waitFor({ timeout: WAIT });
  assert.equal(await bob.page.locator('.msg .text', { hasText: 'oops, wrong chat' }).count(), 0);
  // reply
  const hi = bob.page.locator('.msg.theirs', { hasText: 'second line' });
  await hi.hover();
  await hi.getByRole('button', { name: 'Reply' }).click();
  await bob.page.locator('#composer').fill('replying to you');
  await bob.page.locator('#composer').press('Enter');
  await alice.page.locator('.msg.theirs', { hasText: 'replying to you' }).locator('.quote', { hasText: 'Hello B' }).waitFor({ timeout: WAIT });
  // delete for me
  const gone = bob.page.locator('.msg.mine', { hasText: 'Hi Alice!' });
  await gone.hover();
  await gone.getByRole('button', { name: 'Delete for me' }).click();
  await gone.waitFor({ state: 'detached', timeout: WAIT });
  await alice.page.locator('.msg.mine', { hasText: 'Hello B' }).waitFor(); // still there for Alice
});

test('offline: the page is closed, messages are sent, it comes back with every message once and in order', async () => {
  const { alice, bob } = users;
  await bob.page.close();
  const texts = ['while you were away 1', 'while you were away 2', 'while you were away 3'];
  for (const t of texts) await say(alice.page, t);
  bob.page = await bob.context.newPage();
  await bob.page.goto(base + '/');
  await bob.page.getByText('Connected').waitFor({ timeout: WAIT });
  await bob.page.locator('#convs .conv', { hasText: 'Alice' }).locator('.badge', { hasText: '3' }).waitFor({ timeout: WAIT });
  await shot(bob.page, 'conversations-desktop.png');
  await openChat(bob.page, 'Alice');
  await seen(bob.page, texts[2]);
  const all = await bob.page.locator('.msg .text').allTextContents();
  assert.deepEqual(all.filter((t) => t.startsWith('while you were away')), texts);
  const seqs = await bob.page.locator('.msg').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b));
});

test('reconnect: a dropped socket catches up by after= with no duplicates', async () => {
  const { alice, bob } = users;
  await bob.page.evaluate(() => window.parley.socket.pause());
  await bob.page.getByText('Offline, reconnecting…').waitFor({ timeout: WAIT });
  const texts = ['during the outage 1', 'during the outage 2'];
  for (const t of texts) await say(alice.page, t);
  await bob.page.evaluate(() => window.parley.socket.resume());
  await bob.page.getByText('Connected').waitFor({ timeout: WAIT });
  await seen(bob.page, texts[1]);
  const all = await bob.page.locator('.msg .text').allTextContents();
  assert.deepEqual(all.filter((t) => t.startsWith('during the outage')), texts);
  const seqs = await bob.page.locator('.msg').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b));
});

test('two tabs of one user stay consistent (messages and unread counts)', async () => {
  const { alice, bob } = users;
  await bob.page.getByRole('link', { name: 'Friends' }).click();
  const second = await bob.context.newPage();
  await second.goto(base + '/#/profile');
  await second.getByText('Connected').waitFor({ timeout: WAIT });
  await say(alice.page, 'two tabs?');
  for (const p of [bob.page, second]) await p.locator('#convs .conv', { hasText: 'Alice' }).locator('.badge', { hasText: '1' }).waitFor({ timeout: WAIT });
  await openChat(bob.page, 'Alice');
  await seen(bob.page, 'two tabs?');
  await second.locator('#convs .conv', { hasText: 'Alice' }).locator('.badge').waitFor({ state: 'detached', timeout: WAIT });
  await openChat(second, 'Alice');
  await seen(second, 'two tabs?');
  assert.deepEqual(await second.locator('.msg .text').allTextContents(), await bob.page.locator('.msg .text').allTextContents());
  await second.close();
});

test('a group of three chats; an admin mutes a member, who is told in plain words', async () => {
  const { alice, bob } = users;
  // Carol befriends Alice through the API (the UI path is covered above), then uses the browser.
  const carolName = name('carol');
  const carol = await http('POST', '/api/auth/register', { username: carolName, password: PASSWORD, nickname: 'Carol' });
  const aliceToken = await token(alice.page);
  const req = await http('POST', '/api/friends/requests', { userId: carol.user.id }, aliceToken);
  await http('POST', `/api/friends/requests/${req.id}/accept`, {}, carol.tokens.accessToken);
  const c = await newUser('carol');
  await c.page.getByLabel('Username').fill(carolName);
  await c.page.getByLabel('Password').fill(PASSWORD);
  await c.page.getByRole('button', { name: 'Log in' }).click();
  await c.page.getByText('Connected').waitFor({ timeout: WAIT });

  await alice.page.getByRole('link', { name: 'Groups' }).click();
  await alice.page.getByLabel('Group name').fill('Tea club');
  await alice.page.getByRole('button', { name: 'Create group' }).click();
  await alice.page.getByRole('heading', { name: 'Tea club' }).waitFor({ timeout: WAIT });
  for (const who of ['Bob', 'Carol']) {
    await alice.page.getByLabel('Add a friend').selectOption({ label: who });
    await alice.page.getByRole('button', { name: 'Add', exact: true }).click();
    await alice.page.locator('#members', { hasText: who }).waitFor({ timeout: WAIT });
  }
  await alice.page.getByRole('link', { name: 'Open chat' }).click();
  await say(alice.page, 'Welcome to the tea club');
  for (const p of [bob.page, c.page]) { await openChat(p, 'Tea club'); await seen(p, 'Welcome to the tea club'); }
  await say(bob.page, 'Green tea for me');
  await say(c.page, 'Oolong please');
  for (const p of [alice.page, bob.page]) await seen(p, 'Oolong please');
  await seen(c.page, 'Green tea for me');
  await shot(alice.page, 'group-desktop.png');

  // Carol leaves nothing unread for Alice; Alice mutes Carol from the members list
  await alice.page.getByRole('link', { name: 'Members' }).click();
  await alice.page.getByRole('button', { name: 'Mute Carol for 1 hour' }).click();
  await alice.page.getByRole('button', { name: 'Unmute Carol' }).waitFor({ timeout: WAIT });
  await c.page.locator('#composer').fill('can I still talk?');
  await c.page.locator('#composer').press('Enter');
  await c.page.getByRole('alert').getByText('You are muted in this group').waitFor({ timeout: WAIT });
  assert.equal(await c.page.locator('#composer').inputValue(), 'can I still talk?');

  // Bob searches and sees the group, members with roles are shown
  await alice.page.locator('#members', { hasText: 'owner' }).waitFor();
  await alice.page.getByRole('button', { name: 'Remove Carol' }).click();
  await alice.page.locator('#members', { hasText: 'Carol' }).waitFor({ state: 'detached', timeout: WAIT });
  await c.context.close();
});

test('profile and phone-sized screens', async () => {
  const { alice, bob } = users;
  await alice.page.getByRole('link', { name: 'Profile' }).click();
  await alice.page.getByLabel('Bio').fill('Tea, chess and long walks.');
  await alice.page.getByLabel('Tags (comma separated)').fill('tea, chess');
  const avatar = join(tmp, 'avatar.png');
  writeFileSync(avatar, png(96, 96, [30, 120, 200]));
  await alice.page.getByLabel('Avatar image').setInputFiles(avatar);
  await alice.page.waitForFunction(() => document.querySelector('img.avatar')?.src.startsWith('blob:'), null, { timeout: WAIT });
  await alice.page.getByRole('button', { name: 'Save profile' }).click();
  await alice.page.getByText('Profile saved.').waitFor({ timeout: WAIT });
  await shot(alice.page, 'profile-desktop.png');
  const me = await http('GET', '/api/users/me', null, await token(alice.page));
  assert.deepEqual([...me.tags].sort(), ['chess', 'tea']);
  assert.ok(me.avatarFileId);

  // Bob on a phone-sized window: the list, then a chat with a back link
  await bob.page.setViewportSize(PHONE);
  await bob.page.goto(base + '/#/chats');
  await bob.page.getByText('Connected').waitFor({ timeout: WAIT });
  await conv(bob.page, 'Alice').waitFor({ timeout: WAIT });
  await shot(bob.page, 'conversations-phone.png');
  await openChat(bob.page, 'Alice');
  await bob.page.waitForFunction(() => [...document.querySelectorAll('img.thumb')].some((i) => i.complete && i.naturalWidth > 0), null, { timeout: WAIT });
  await shot(bob.page, 'chat-phone.png');
  assert.ok(await bob.page.getByRole('link', { name: '← Chats' }).isVisible());
  const login = await browser.newPage({ viewport: PHONE });
  await login.goto(base + '/');
  await login.getByRole('heading', { name: 'Log in to Parley' }).waitFor();
  await shot(login, 'login-phone.png');
  await login.close();
});

test('pages carry a strict Content-Security-Policy and load nothing from elsewhere', async () => {
  const res = await fetch(base + '/');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-security-policy'), /default-src 'self'/);
  const page = await browser.newPage();
  const outside = [];
  page.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) outside.push(r.url()); });
  const violations = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()); });
  await page.goto(base + '/');
  await page.getByRole('heading', { name: 'Log in to Parley' }).waitFor();
  assert.deepEqual(outside, []);
  assert.deepEqual(violations, []);
  await page.close();
});

test('the API docs render under their own Content-Security-Policy, name no UI version, load nothing from elsewhere', async () => {
  const res = await fetch(base + '/api/docs/index.html');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-security-policy'), /script-src 'self'/);
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  assert.equal(res.headers.get('x-swagger-ui-version'), null);
  const page = await browser.newPage();
  const outside = [];
  page.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('data:')) outside.push(r.url()); });
  const violations = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()); });
  await page.goto(base + '/api/docs/index.html');
  await page.locator('.swagger-ui .info .title', { hasText: 'Parley' }).waitFor({ timeout: WAIT });
  await page.locator('.opblock').first().waitFor({ timeout: WAIT });
  assert.deepEqual(outside, []);
  assert.deepEqual(violations, []);
  await page.close();
});

test('an access token about to expire is refreshed once for two tabs, and the session lives on', async () => {
  const { bob } = users;
  const second = await bob.context.newPage();
  await second.goto(base + '/#/profile');
  await second.getByText('Connected').waitFor({ timeout: WAIT });
  const tokensOf = (p) => p.evaluate(() => JSON.parse(localStorage.getItem('parley.session')).tokens);
  const old = await tokensOf(bob.page);
  // Make the stored access token expire within the client's refresh margin, then have both tabs call at once.
  await bob.page.evaluate(() => {
    const session = JSON.parse(localStorage.getItem('parley.session'));
    session.tokens.accessTokenExpiresAt = Date.now() + 5_000;
    localStorage.setItem('parley.session', JSON.stringify(session));
  });
  await Promise.all([bob.page, second].map((p) => p.getByRole('link', { name: 'Friends' }).click()));
  await bob.page.waitForFunction((spent) => JSON.parse(localStorage.getItem('parley.session')).tokens.refreshToken !== spent, old.refreshToken, { timeout: WAIT });
  for (const p of [bob.page, second]) await p.getByRole('heading', { name: 'Friends' }).first().waitFor({ timeout: WAIT });
  const fresh = await tokensOf(bob.page);
  assert.notEqual(fresh.accessToken, old.accessToken);
  // Had both tabs spent the old refresh token, the server would have revoked the session (token_reused).
  await http('GET', '/api/users/me', undefined, fresh.accessToken);
  for (const p of [bob.page, second]) await p.getByText('Connected').waitFor({ timeout: WAIT });
  await second.close();
});

test('scrollback pages back with before= through a long history, every message once and in order', async () => {
  const { alice, bob } = users;
  const aliceToken = await token(alice.page);
  const bobId = await bob.page.evaluate(() => JSON.parse(localStorage.getItem('parley.session')).user.id);
  const { id } = await http('POST', '/api/conversations/direct', { userId: bobId }, aliceToken);
  for (let i = 1; i <= 120; i++) {
    await http('POST', `/api/conversations/${id}/messages`, { clientMsgId: `long-${run}-${i}`, type: 'text', content: { text: `history ${i}` } }, aliceToken);
  }
  const page = await bob.context.newPage(); // a fresh page holds nothing yet
  await page.goto(base + '/');
  await page.getByText('Connected').waitFor({ timeout: WAIT });
  await openChat(page, 'Alice');
  // Bounds three times the usual: a page of 120 messages and several pages back on a busy CI machine.
  await page.locator('.msg .text', { hasText: 'history 120' }).first().waitFor({ timeout: 3 * WAIT });
  const first = page.locator('.msg .text', { hasText: /^history 1$/ });
  for (let pages = 0; pages < 10 && (await first.count()) === 0; pages++) {
    const shown = await page.locator('.msg').count();
    // Reaching the top of the list also loads the earlier page by itself; that load may finish (and hide the
    // button, once nothing older is left) between the check above and this click, so a hidden button is fine.
    const button = page.getByRole('button', { name: 'Load earlier messages' });
    if (await button.isVisible()) await button.click({ timeout: WAIT }).catch(() => {});
    await page.waitForFunction(
      (n) => document.querySelectorAll('.msg').length > n || [...document.querySelectorAll('.msg .text')].some((t) => t.textContent.trim() === 'history 1'),
      shown,
      { timeout: 3 * WAIT });
  }
  const texts = (await page.locator('.msg .text').allTextContents()).map((t) => t.trim()).filter((t) => /^history \d+$/.test(t));
  assert.deepEqual(texts, Array.from({ length: 120 }, (_, i) => `history ${i + 1}`));
  await page.close();
});

test('errors are shown in plain words: a file too large, a block; the draft is kept', async () => {
  const { alice, bob } = users;
  await alice.page.getByRole('link', { name: 'Chats' }).click();
  await openChat(alice.page, 'Bob');
  const big = join(tmp, 'big.bin');
  writeFileSync(big, Buffer.alloc(1_200_000, 7));
  await alice.page.locator('#attach').setInputFiles(big);
  await alice.page.getByRole('alert').getByText('That is too large to send.').waitFor({ timeout: WAIT });

  const aliceId = await alice.page.evaluate(() => JSON.parse(localStorage.getItem('parley.session')).user.id);
  await http('PUT', `/api/blocks/${aliceId}`, undefined, await token(bob.page));
  await alice.page.locator('#composer').fill('are you there?');
  await alice.page.locator('#composer').press('Enter');
  await alice.page.getByRole('alert').getByText('This person has blocked you').waitFor({ timeout: WAIT });
  assert.equal(await alice.page.locator('#composer').inputValue(), 'are you there?');
  await http('DELETE', `/api/blocks/${aliceId}`, undefined, await token(bob.page));
});

test('message search: all conversations and one, CJK and 2 characters; a result opens the chat at that message', async () => {
  const { alice, bob } = users;
  const aliceToken = await token(alice.page);
  const bobId = await bob.page.evaluate(() => JSON.parse(localStorage.getItem('parley.session')).user.id);
  const { id } = await http('POST', '/api/conversations/direct', { userId: bobId }, aliceToken);
  const needle = `needle 北京烤鸭 ${run}`;
  await http('POST', `/api/conversations/${id}/messages`, { clientMsgId: `search-${run}`, type: 'text', content: { text: needle } }, aliceToken);
  // Enough later messages that the needle is not on the page a chat opens with.
  for (let i = 1; i <= 60; i++) {
    await http('POST', `/api/conversations/${id}/messages`, { clientMsgId: `search-${run}-${i}`, type: 'text', content: { text: `filler ${i}` } }, aliceToken);
  }
  const page = await bob.context.newPage(); // a fresh page holds nothing of the conversation yet
  await page.goto(base + '/');
  await page.getByText('Connected').waitFor({ timeout: WAIT });
  await page.getByLabel('Search all messages').fill('北京烤鸭');
  await page.getByRole('button', { name: 'Find messages' }).click();
  const result = page.locator('.result', { hasText: needle });
  await result.waitFor({ timeout: WAIT });
  assert.equal(await result.locator('mark').textContent(), '北京烤鸭');
  await shot(page, 'search-desktop.png');

  await result.locator('a').click();
  const found = page.locator('.msg.found .text', { hasText: needle });
  await found.waitFor({ timeout: 2 * WAIT });
  // In view inside the message list (the list starts at the latest messages otherwise).
  const inView = await page.evaluate(() => {
    const el = document.querySelector('.msg.found').getBoundingClientRect();
    const box = document.querySelector('.scroller').getBoundingClientRect();
    return { ok: el.bottom > box.top && el.top < box.bottom, el: [el.top, el.bottom], box: [box.top, box.bottom], n: document.querySelectorAll('.msg').length };
  });
  assert.ok(inView.ok, `the found message is scrolled into view: ${JSON.stringify(inView)}`);

  // Within this conversation, 2 characters (the short-query scan).
  await page.getByLabel('Search in this conversation').fill('北京');
  await page.getByRole('button', { name: 'Find in this conversation' }).click();
  await page.locator('#search-title', { hasText: 'Search in' }).waitFor({ timeout: WAIT });
  await page.locator('.result', { hasText: needle }).waitFor({ timeout: WAIT });
  assert.equal(await page.locator('.result').count(), 1);
  await page.getByLabel('Search in this conversation').fill('zzqq' + run);
  await page.getByRole('button', { name: 'Find in this conversation' }).click();
  await page.getByText(`No messages match “zzqq${run}”.`).waitFor({ timeout: WAIT });
  await page.close();
});
