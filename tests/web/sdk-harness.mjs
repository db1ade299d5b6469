// Shared by sdk.test.mjs and widget.test.mjs: the built server on a free port with a temporary data directory
// (stopped by its PID), chromium through playwright-core, and HTTP helpers for users made over the API.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { chromium } from 'playwright-core';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const sdkDir = join(root, 'src/Parley.Server/wwwroot/sdk');
const dll = join(root, 'src/Parley.Server/bin/Release/net10.0/Parley.Server.dll');
export const WAIT = 20_000;
export const PASSWORD = 'correct horse battery';

export function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** Starts Parley with extra settings (or a function of its base URL giving them); returns {base, http, stop, ...}. */
export async function startParley(settings = []) {
  const tmp = mkdtempSync(join(tmpdir(), 'parley-sdk-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const extraArgs = typeof settings === 'function' ? settings(base) : settings;
  const server = spawn('dotnet', [dll, `--urls=${base}`, `--DataDir=${join(tmp, 'data')}`, '--Auth:RegistrationsPerAddress=100000',
    '--Logging:LogLevel:Default=Warning', '--Messaging:SendBurst=1000', ...extraArgs], { stdio: ['ignore', 'inherit', 'inherit'] });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try { if ((await fetch(`${base}/health/ready`)).ok) break; } catch { /* not listening yet */ }
    if (Date.now() > deadline || server.exitCode !== null) throw new Error('server did not become ready');
    await new Promise((r) => setTimeout(r, 200)); // polling interval while the server starts, not a sync point
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

  const run = Date.now().toString(36);
  let n = 0;
  /** Registers a user over HTTP: the session ({user, tokens, deviceId}) plus a `token` shortcut. */
  async function register(nickname) {
    const session = await http('POST', '/api/auth/register', { username: `${nickname.toLowerCase()}_${run}_${n++}`, password: PASSWORD, nickname });
    return { ...session, token: session.tokens.accessToken };
  }

  /** Two friends and their direct conversation. */
  async function friends(a, b) {
    await http('POST', '/api/friends/requests', { userId: b.user.id }, { token: a.token });
    await http('POST', '/api/friends/requests', { userId: a.user.id }, { token: b.token }); // asked both ways: friends
    const conversation = await http('POST', '/api/conversations/direct', { userId: b.user.id }, { token: a.token });
    return conversation.id;
  }

  let sent = 0;
  const say = (who, conversationId, text) => http('POST', `/api/conversations/${conversationId}/messages`,
    { clientMsgId: `t-${run}-${sent++}`, type: 'text', content: { text } }, { token: who.token });

  async function stop() {
    if (server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
    rmSync(tmp, { recursive: true, force: true });
  }

  return { base, port, http, register, friends, say, stop, tmp };
}

export const launch = () => chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
