// Email in the web client (docs/email.md), in a real browser against a real SMTP server: Debian's python3-aiosmtpd
// writes every mail into a Maildir that this test reads. A user adds and verifies an address in the profile, then
// resets a forgotten password from the login screen. Every wait is event based or a bounded poll of the Maildir.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dll = join(root, 'src/Parley.Server/bin/Release/net10.0/Parley.Server.dll');
const python = process.env.PARLEY_TEST_PYTHON || '/usr/bin/python3';
const WAIT = 20_000;
const PASSWORD = 'correct horse battery';
const hasSmtp = spawnSync(python, ['-c', 'import aiosmtpd'], { stdio: 'ignore' }).status === 0;

let server, smtp, base, tmp, browser, maildir;
const seen = new Set();

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function until(check, what) {
  const deadline = Date.now() + WAIT;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not in time`);
    await new Promise((r) => setTimeout(r, 50)); // polling interval (a child coming up, a file landing), not a sync point
  }
}

/** The code in the next mail to `to` not read before. */
async function nextCode(to) {
  return until(() => {
    const dir = join(maildir, 'new');
    if (!existsSync(dir)) return null;
    for (const file of readdirSync(dir).sort()) {
      if (seen.has(file)) continue;
      const text = readFileSync(join(dir, file), 'utf8');
      if (!new RegExp(`^To: .*${to.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'mi').test(text)) continue;
      seen.add(file);
      return /Your code is (\d{6})/.exec(text)?.[1];
    }
    return null;
  }, `a mail to ${to}`);
}

before(async () => {
  if (!hasSmtp) return;
  tmp = mkdtempSync(join(tmpdir(), 'parley-web-email-'));
  maildir = join(tmp, 'maildir');
  const smtpPort = await freePort();
  smtp = spawn(python, ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${smtpPort}`, '-c', 'aiosmtpd.handlers.Mailbox', maildir], { stdio: ['ignore', 'inherit', 'inherit'] });
  await until(() => new Promise((resolve) => {
    const probe = createServer();
    // The port is taken once aiosmtpd listens.
    probe.once('error', () => resolve(true));
    probe.listen(smtpPort, '127.0.0.1', () => probe.close(() => resolve(false)));
  }), 'aiosmtpd listening');
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn('dotnet', [dll, `--urls=${base}`, `--DataDir=${join(tmp, 'data')}`, '--Logging:LogLevel:Default=Warning',
    '--Email:SmtpHost=127.0.0.1', `--Email:SmtpPort=${smtpPort}`, '--Email:From=Parley <no-reply@parley.test>', '--Email:UseTls=false'],
  { stdio: ['ignore', 'inherit', 'inherit'] });
  await until(async () => {
    if (server.exitCode !== null) throw new Error('server exited');
    try { return (await fetch(`${base}/health/ready`)).ok; } catch { return false; }
  }, 'server ready');
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  for (const child of [server, smtp]) {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('verify an address in the profile, then reset a forgotten password', { skip: hasSmtp ? false : 'python3-aiosmtpd is not installed' }, async () => {
  const username = `mail_${Date.now().toString(36)}`;
  const email = `${username}@example.test`;
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(base + '/');
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText('Connected').waitFor({ timeout: WAIT });

  // Profile: add the address, read the mailed code, verify.
  await page.getByRole('link', { name: 'Profile' }).click();
  await page.getByText('No email address yet.').waitFor({ timeout: WAIT });
  await page.getByLabel('Email address').fill(email);
  await page.getByRole('button', { name: 'Send verification code' }).click();
  await page.getByText(`A code was mailed to ${email}`).waitFor({ timeout: WAIT });
  const code = await nextCode(email);
  await page.getByLabel('Verification code').fill(code === '000000' ? '111111' : '000000');
  await page.getByRole('button', { name: 'Verify', exact: true }).click();
  await page.getByRole('alert').getByText('is wrong').waitFor({ timeout: WAIT });
  await page.getByLabel('Verification code').fill(code);
  await page.getByRole('button', { name: 'Verify', exact: true }).click();
  await page.getByText(`${email} (verified)`).waitFor({ timeout: WAIT });

  // Forgot password: from the login screen, with the code mailed to the verified address.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('button', { name: 'Forgot password?' }).click();
  await page.getByLabel('Email address').fill(email.toUpperCase());
  await page.getByRole('button', { name: 'Send code' }).click();
  await page.getByText('a code is on its way').waitFor({ timeout: WAIT });
  const resetCode = await nextCode(email);
  await page.getByLabel('Code', { exact: true }).fill(resetCode);
  await page.getByLabel('New password').fill('a brand new password');
  await page.getByRole('button', { name: 'Set new password' }).click();
  await page.getByText('Your password was changed.').waitFor({ timeout: WAIT });
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill('a brand new password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByText('Connected').waitFor({ timeout: WAIT });
  const me = await page.evaluate(async () => {
    const session = JSON.parse(localStorage.getItem('parley.session'));
    return (await fetch('/api/users/me', { headers: { Authorization: `Bearer ${session.tokens.accessToken}` } })).json();
  });
  assert.equal(me.emailVerified, true);
  assert.equal(me.email, email);
  await context.close();
});
