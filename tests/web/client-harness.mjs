// Shared by client-bugs, client-features and a11y tests: the built server on a free port with a temporary data
// directory (stopped by its PID), Debian's chromium through playwright-core, and users made through the HTTP API
// whose session is put into the page's localStorage (the UI paths of register and login are covered by e2e).
// Every wait is event based (locator.waitFor / waitForFunction / waitForResponse), never a fixed sleep.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dll = join(root, 'src/Parley.Server/bin/Release/net10.0/Parley.Server.dll');
export const WAIT = 20_000;
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 800 };
export const PASSWORD = 'correct horse battery';

export function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/**
 * Starts the server and chromium; returns the harness. Call `stop()` in `after`. `browserArgs`: more chromium
 * switches (the calls test's fake camera and microphone).
 */
export async function start(prefix, extraArgs = [], { browserArgs = [] } = {}) {
  const tmp = mkdtempSync(join(tmpdir(), `parley-${prefix}-`));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn('dotnet', [dll, `--urls=${base}`, `--DataDir=${join(tmp, 'data')}`, '--Auth:RegistrationsPerAddress=100000',
    '--Logging:LogLevel:Default=Warning', '--Messaging:SendBurst=1000', ...extraArgs], { stdio: ['ignore', 'inherit', 'inherit'] });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try { if ((await fetch(`${base}/health/ready`)).ok) break; } catch { /* not listening yet */ }
    if (Date.now() > deadline || server.exitCode !== null) throw new Error('server did not become ready');
    await new Promise((r) => setTimeout(r, 200)); // polling interval while the server starts, not a sync point
  }
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', ...browserArgs] });
  const run = Date.now().toString(36) + Math.random().toString(36).slice(2, 5);
  let n = 0;

  async function http(method, path, body, token) {
    const res = await fetch(base + path, {
      method, headers: { ...(body ? { 'Content-Type': 'application/json' } : {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** A registered user: {session, id, token, username, nickname}. */
  async function user(nickname) {
    const username = `${nickname.toLowerCase().replace(/[^a-z0-9]/g, '')}_${run}_${n++}`;
    const session = await http('POST', '/api/auth/register', { username, password: PASSWORD, nickname });
    return { session, id: session.user.id, token: session.tokens.accessToken, username, nickname };
  }

  async function befriend(a, b) {
    const req = await http('POST', '/api/friends/requests', { userId: b.id }, a.token);
    if (req.status !== 'accepted') await http('POST', `/api/friends/requests/${req.id}/accept`, {}, b.token);
  }

  async function direct(a, b) {
    return http('POST', '/api/conversations/direct', { userId: b.id }, a.token);
  }

  let sent = 0;
  async function send(from, conversationId, content, extra = {}) {
    const type = extra.type ?? 'text';
    return http('POST', `/api/conversations/${conversationId}/messages`, { clientMsgId: `h-${run}-${sent++}`, type, content: type === 'text' && typeof content === 'string' ? { text: content } : content, ...extra, type }, from.token);
  }

  /** A page signed in as `u` (its session put into localStorage, then the app started), connected. */
  async function open(u, { viewport = DESKTOP, hash = '', context } = {}) {
    const ctx = context ?? await browser.newContext({ viewport });
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error(`[${u.nickname}] page error:`, e.message));
    await page.goto(base + '/');
    await page.evaluate((s) => localStorage.setItem('parley.session', JSON.stringify(s)), u.session);
    await page.goto(base + '/' + hash);
    await page.reload();
    await page.locator('#conn.online').waitFor({ timeout: WAIT });
    return page;
  }

  async function stop() {
    await browser?.close();
    if (server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
    rmSync(tmp, { recursive: true, force: true });
  }

  return { base, tmp, browser, http, user, befriend, direct, send, open, stop, run };
}

/** A small real PNG (solid colour with a gradient), made here so a test needs no fixture file. */
export function png(width, height, [r, g, b]) {
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
