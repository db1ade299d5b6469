// Browser tests of the admin page (/admin) in Debian's chromium driven by playwright-core, like e2e.test.mjs:
// starts the built server with an admin key on a free port and a temporary data directory, prepares users and a
// report through the HTTP API, and drives the page. Every wait is event based (locator.waitFor), never a sleep.
// Run: cd tests/web && node --test --test-concurrency=1 admin.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dll = join(root, 'src/Parley.Server/bin/Release/net10.0/Parley.Server.dll');
const WAIT = 20_000;
const KEY = 'web-test-admin-key-' + Date.now().toString(36) + '-0123456789';
const run = Date.now().toString(36);

let server, base, tmp, browser;

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function http(method, path, body, { token, key } = {}) {
  const res = await fetch(base + path, {
    method,
    headers: {
      ...(body ? { 'Content-Type': 'application/json' } : {}),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(key ? { 'X-Api-Key': key } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'parley-admin-web-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn('dotnet', [dll, `--urls=${base}`, `--DataDir=${join(tmp, 'data')}`, `--Admin:ApiKeys:0=${KEY}`,
    '--Logging:LogLevel:Default=Warning'], { stdio: ['ignore', 'inherit', 'inherit'] });
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

test('admin page: key sign-in, users, reports, stats, failed webhooks', async () => {
  // Two users imported by the "app server", a system message between them, and a report about it.
  const alice = await http('POST', '/api/admin/users', { username: `alice_${run}`, nickname: 'Alice', externalId: `crm-a-${run}` }, { key: KEY });
  const bob = await http('POST', '/api/admin/users', { username: `bob_${run}`, nickname: 'Bob' }, { key: KEY });
  const bobSession = await http('POST', `/api/admin/users/${bob.id}/tokens`, { device: 'web-test' }, { key: KEY });
  const message = await http('POST', '/api/admin/messages', { from: alice.id, to: bob.id, clientMsgId: `m-${run}`, type: 'text', content: { text: 'a rude remark' } }, { key: KEY });
  await http('POST', `/api/conversations/${message.conversationId}/messages/${message.seq}/report`, { reason: 'rude' }, { token: bobSession.tokens.accessToken });

  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const response = await page.goto(base + '/admin');
  assert.match(response.headers()['content-security-policy'], /script-src 'self'/);

  // A wrong key is refused in plain words and not kept.
  await page.getByLabel('API key').fill('not-the-key-not-the-key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('That key was not accepted.').waitFor({ timeout: WAIT });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('parley.admin.key')), null);

  await page.getByLabel('API key').fill(KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Users' }).waitFor({ timeout: WAIT });
  // The key lives in this tab's sessionStorage only.
  assert.equal(await page.evaluate(() => sessionStorage.getItem('parley.admin.key')), KEY);
  assert.equal(await page.evaluate(() => Object.keys(localStorage).length), 0);
  assert.equal((await context.cookies()).length, 0);

  // Search, then disable: Bob's session dies and the row says so.
  await page.getByLabel('Search users').fill(`bob_${run}`);
  await page.getByRole('button', { name: 'Search' }).click();
  const bobRow = page.locator(`tr[data-user="bob_${run}"]`);
  await bobRow.waitFor({ timeout: WAIT });
  await page.locator(`tr[data-user="alice_${run}"]`).waitFor({ state: 'detached', timeout: WAIT });
  await bobRow.getByRole('button', { name: 'Disable' }).click();
  await bobRow.getByText('Disabled').waitFor({ timeout: WAIT });
  const me = await fetch(base + '/api/users/me', { headers: { Authorization: `Bearer ${bobSession.tokens.accessToken}` } });
  assert.equal(me.status, 401);
  await bobRow.getByRole('button', { name: 'Enable' }).click();
  await bobRow.getByRole('button', { name: 'Disable' }).waitFor({ timeout: WAIT });
  await bobRow.getByRole('button', { name: 'Log out' }).click();
  await page.getByText(`bob_${run} logged out everywhere.`).waitFor({ timeout: WAIT });

  // Search by external id.
  await page.getByLabel('Search users').fill('');
  await page.getByLabel('External id').fill(`crm-a-${run}`);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.locator(`tr[data-user="alice_${run}"]`).waitFor({ timeout: WAIT });

  // Reports: the reported text is shown (as text) and can be resolved.
  await page.getByRole('button', { name: 'Reports' }).click();
  const report = page.locator('tr[data-report]', { hasText: 'a rude remark' });
  await report.waitFor({ timeout: WAIT });
  await report.getByRole('button', { name: 'Resolve' }).click();
  await page.getByText('No reports.').waitFor({ timeout: WAIT });
  await page.getByLabel('Which reports').selectOption('resolved');
  await page.locator('tr[data-report]', { hasText: 'a rude remark' }).getByText(/Resolved/).waitFor({ timeout: WAIT });

  // Stats.
  await page.getByRole('button', { name: 'Stats' }).click();
  await page.getByText('messages in the last 24 h').waitFor({ timeout: WAIT });
  const users = await page.locator('.stat', { hasText: /^\d+users$/ }).locator('strong').textContent();
  assert.ok(Number(users) >= 2);

  // Failed webhooks: a server without that call shows a clean empty state, never an error.
  await page.getByRole('button', { name: 'Failed webhooks' }).click();
  await page.getByText(/Webhooks are not available on this server|No failed webhook deliveries/).waitFor({ timeout: WAIT });
  assert.equal(await page.locator('#alerts .toast').count(), 0);

  // Signing out forgets the key.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API key').waitFor({ timeout: WAIT });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('parley.admin.key')), null);
  assert.deepEqual(errors, []);
  await context.close();
});
