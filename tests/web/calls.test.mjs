// Calls in the web client (ui/calls.js, docs/calls.md), two real browsers' worth of pages against the built server
// and a real coturn (scripts/coturn.sh on 127.0.0.1, use-auth-secret): chromium with a fake camera and microphone
// (--use-fake-device-for-media-stream) and the permission prompt answered yes (--use-fake-ui-for-media-stream).
// A call is forced through the TURN relay (the client's "relay only" setting: iceTransportPolicy "relay"), connects,
// and RTP bytes grow on both sides over a relay candidate pair; then hang up, decline, cancel, the ring timeout
// (missed), unavailable, busy, answered on another device, two tabs of one device, a stranger, a blocked caller, a
// refused and a missing microphone, each with the words on screen and the server's `call` message in the
// conversation. Every wait is on page state; no sleeps.
// Run: cd tests/web && node --test --test-reporter=spec calls.test.mjs (after a Release build).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import { start, root, WAIT, PHONE, PASSWORD } from './client-harness.mjs';

const FAKE_MEDIA = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required'];
const haveTurn = existsSync('/usr/bin/turnserver');
// Screenshots go to the run's temporary directory, and refresh docs/screenshots only when asked (PARLEY_SCREENSHOTS=1).
const shot = (page, file) => page.screenshot({ path: join(process.env.PARLEY_SCREENSHOTS === '1' ? join(root, 'docs', 'screenshots') : H.tmp, file) });
const noTurn = !haveTurn && 'coturn is not installed (scripts/deps.sh installs it)';

let H;
let turn; // {port, secret, dir}
before(async () => {
  const args = [];
  if (haveTurn) {
    const dir = join(mkdtempSync(join(tmpdir(), 'parley-calls-turn-')), 'coturn');
    const line = await coturn('start', dir);
    const [, port, secret] = /^127\.0\.0\.1:(\d+),secret=(.+)$/.exec(line) ?? [];
    assert.ok(port, `coturn.sh said: ${line}`);
    turn = { port, secret, dir };
    args.push(`--Calls:TurnUrls:0=turn:127.0.0.1:${port}?transport=udp`, `--Calls:TurnSecret=${secret}`);
  }
  H = await start('calls', args, { browserArgs: FAKE_MEDIA });
});
after(async () => {
  await H?.stop();
  if (turn) { await coturn('stop', turn.dir); rmSync(dirname(turn.dir), { recursive: true, force: true }); }
});

/** scripts/coturn.sh start|stop in a private directory; start's one line of stdout. */
function coturn(command, dir) {
  return new Promise((resolve, reject) => {
    const p = spawn('bash', [join(root, 'scripts/coturn.sh'), command], { env: { ...process.env, PARLEY_COTURN_DIR: dir }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`coturn.sh ${command}: exit ${code}`))));
  });
}

async function friends(H, ...names) {
  const users = [];
  for (const n of names) users.push(await H.user(n));
  for (let i = 1; i < users.length; i++) await H.befriend(users[0], users[i]);
  return users;
}

/** A page in the direct chat with `peer`, calls relayed only when asked (the setting in localStorage). */
async function chat(H, u, conversation, { relay = false, viewport, context, session } = {}) {
  const page = await H.open(session ? { ...u, session } : u, { hash: `#/chats/${conversation.id}`, viewport, context });
  if (relay) await page.evaluate((id) => localStorage.setItem(`parley.callsRelayOnly.${id}`, 'on'), u.id);
  await page.locator('#composer').waitFor({ timeout: WAIT });
  return page;
}

const dialog = (page) => page.locator('#call-dialog');
const inState = (page, state) => page.locator(`#call-dialog[open][data-state="${state}"]`).waitFor({ timeout: WAIT });
const closed = (page) => page.waitForFunction(() => !document.getElementById('call-dialog')?.open && !window.parley.calls.current, null, { timeout: WAIT });
const callMessage = (page, text) => page.locator('.msg .call-words', { hasText: text }).waitFor({ timeout: WAIT });
const alert = (page, text) => page.locator('#alerts .toast', { hasText: text }).waitFor({ timeout: WAIT });
const notice = (page, text) => page.locator('#notices .toast', { hasText: text }).waitFor({ timeout: WAIT });

async function ringing(page, callerName, media = 'audio') {
  const d = page.getByRole('dialog', { name: `${callerName} is calling` });
  await d.waitFor({ timeout: WAIT });
  await d.getByText(`Incoming ${media} call`).waitFor({ timeout: WAIT });
  return d;
}

/** axe-core on the page as it is (the call dialog open): no WCAG 2.x A/AA or best-practice violation. */
async function axe(page, screen) {
  const { violations } = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze();
  assert.deepEqual(violations.map((v) => `${v.id}: ${v.help} ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`), [], `${screen}: axe violations`);
}

/** What the page's peer connection says: inbound RTP bytes and the selected candidate pair's types. */
function rtp(page) {
  return page.evaluate(async () => {
    const pc = window.parley.calls.current?.pc;
    if (!pc) return null;
    const stats = await pc.getStats();
    let bytes = 0, kinds = new Set(), pair = null;
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp') { bytes += s.bytesReceived ?? 0; if (s.bytesReceived > 0) kinds.add(s.kind); }
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    return { bytes, kinds: [...kinds].sort(), local: pair && stats.get(pair.localCandidateId)?.candidateType, remote: pair && stats.get(pair.remoteCandidateId)?.candidateType };
  });
}

/** Waits until the inbound RTP bytes of the page's call are above `than`; returns them. */
async function bytesAbove(page, than, kinds = []) {
  await page.waitForFunction(async ([than, kinds]) => {
    const pc = window.parley.calls.current?.pc;
    if (!pc) return false;
    let bytes = 0; const seen = new Set();
    (await pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp') { bytes += s.bytesReceived ?? 0; if (s.bytesReceived > 0) seen.add(s.kind); } });
    return bytes > than && kinds.every((k) => seen.has(k));
  }, [than, kinds], { timeout: WAIT, polling: 100 });
  return (await rtp(page)).bytes;
}

test('a video call through the TURN relay: media both ways on a relay pair, mute, camera off, hang up leaves "Video call (m:ss)"', { skip: noTurn }, async () => {
  const [alice, bob] = await friends(H, 'Alice', 'Bob');
  const c = await H.direct(alice, bob);
  // Alice turns "relay only" on in her profile (the real switch); Bob's is set in his browser's storage.
  const a = await H.open(alice, { hash: '#/profile' });
  const relayBox = a.getByLabel('Relay my calls through the server (hides my IP address from the other side)');
  await relayBox.check();
  await notice(a, 'Your calls now go through the server\'s relay only.');
  assert.equal(await a.evaluate((id) => localStorage.getItem(`parley.callsRelayOnly.${id}`), alice.id), 'on');
  await a.goto(`${H.base}/#/chats/${c.id}`);
  await a.locator('#composer').waitFor({ timeout: WAIT });
  const b = await chat(H, bob, c, { relay: true });

  await a.getByRole('button', { name: 'Video call' }).click();
  await inState(a, 'outgoing');
  assert.equal(await a.getByRole('dialog', { name: 'Video call with Bob' }).getByRole('button', { name: 'Cancel call' }).count(), 1);
  const ring = await ringing(b, 'Alice', 'video');
  // The ringing dialog is modal and has the focus on Accept.
  assert.equal(await b.evaluate(() => document.getElementById('call-dialog').matches(':modal')), true);
  assert.equal(await b.evaluate(() => document.activeElement?.textContent), 'Accept video');
  await axe(b, 'incoming call');
  await shot(b, 'call-incoming-desktop.png');
  await ring.getByRole('button', { name: 'Accept video' }).click();
  await Promise.all([inState(a, 'active'), inState(b, 'active')]);
  await axe(a, 'in a video call');

  // Media flows both ways, audio and video, and keeps flowing: the bytes received grow on each side.
  const a0 = await bytesAbove(a, 0, ['audio', 'video']);
  const b0 = await bytesAbove(b, 0, ['audio', 'video']);
  await Promise.all([bytesAbove(a, a0), bytesAbove(b, b0)]);
  for (const page of [a, b]) {
    const s = await rtp(page);
    assert.deepEqual([s.local, s.remote], ['relay', 'relay'], 'the selected candidate pair is relay on both ends');
    assert.equal(await page.evaluate(() => window.parley.calls.current.pc.getConfiguration().iceTransportPolicy), 'relay');
  }
  // The remote video plays on each side (the fake camera's frames came through).
  await a.waitForFunction(() => document.querySelector('#call-dialog .call-remote')?.videoWidth > 0, null, { timeout: WAIT });
  await b.waitForFunction(() => document.querySelector('#call-dialog .call-remote')?.videoWidth > 0, null, { timeout: WAIT });
  await a.locator('#call-dialog .call-clock', { hasText: /^\d+:\d\d$/ }).waitFor({ timeout: WAIT });
  await shot(a, 'call-desktop.png');

  // Mute and camera off turn the local tracks off, and say so on the buttons.
  await a.getByRole('button', { name: 'Mute microphone' }).click();
  assert.equal(await a.getByRole('button', { name: 'Unmute microphone' }).getAttribute('aria-pressed'), 'true');
  assert.deepEqual(await a.evaluate(() => window.parley.calls.current.local.getAudioTracks().map((t) => t.enabled)), [false]);
  await a.getByRole('button', { name: 'Turn camera off' }).click();
  assert.equal(await a.getByRole('button', { name: 'Turn camera on' }).getAttribute('aria-pressed'), 'true');
  assert.deepEqual(await a.evaluate(() => window.parley.calls.current.local.getVideoTracks().map((t) => t.enabled)), [false]);
  await a.getByRole('button', { name: 'Unmute microphone' }).click();
  assert.deepEqual(await a.evaluate(() => window.parley.calls.current.local.getAudioTracks().map((t) => t.enabled)), [true]);

  // The in-call panel leaves the chat usable: a message sent during the call.
  await a.locator('#composer').fill('can you hear me?');
  await a.locator('#composer').press('Enter');
  await b.locator('.msg.theirs', { hasText: 'can you hear me?' }).waitFor({ timeout: WAIT });

  await b.getByRole('button', { name: 'Hang up' }).click();
  await Promise.all([closed(a), closed(b)]);
  await notice(a, /Bob ended the call \(\d+:\d\d\)\./);
  await Promise.all([callMessage(a, /^Video call \(\d+:\d\d\)$/), callMessage(b, /^Video call \(\d+:\d\d\)$/)]);
  // The camera and microphone are released when the call ends.
  assert.equal(await a.evaluate(() => document.querySelector('#call-dialog video')), null);
  await a.context().close(); await b.context().close();
});

test('declined: the caller is told, both sides show it in the conversation', async () => {
  const [alice, bob] = await friends(H, 'Alice', 'Bob');
  const c = await H.direct(alice, bob);
  const a = await chat(H, alice, c);
  const b = await chat(H, bob, c);
  await a.getByRole('button', { name: 'Audio call' }).click();
  const ring = await ringing(b, 'Alice');
  await ring.getByRole('button', { name: 'Decline' }).click();
  await closed(b);
  await alert(a, 'Bob declined the call.');
  await closed(a);
  await callMessage(a, 'Audio call, declined');
  await callMessage(b, 'Declined audio call');
  await a.context().close(); await b.context().close();
});

test('the caller cancels while it rings: the callee stops ringing, a missed call on both sides', async () => {
  const [alice, bob] = await friends(H, 'Alice', 'Bob');
  const c = await H.direct(alice, bob);
  const a = await chat(H, alice, c);
  const b = await chat(H, bob, c, { viewport: PHONE });
  await a.getByRole('button', { name: 'Audio call' }).click();
  await ringing(b, 'Alice');
  await a.getByRole('button', { name: 'Cancel call' }).click();
  await closed(a);
  await closed(b);
  await notice(b, 'You missed a call from Alice.');
  await callMessage(a, 'Audio call, no answer');
  await callMessage(b, 'Missed audio call');
  await a.context().close(); await b.context().close();
});

test('nobody answers within Calls:RingSeconds: "did not answer" and a missed call on both sides', async () => {
  const T = await start('calls-timeout', ['--Calls:RingSeconds=2'], { browserArgs: FAKE_MEDIA });
  try {
    const [alice, bob] = await friends(T, 'Alice', 'Bob');
    const c = await T.direct(alice, bob);
    const a = await chat(T, alice, c);
    const b = await chat(T, bob, c);
    await a.getByRole('button', { name: 'Audio call' }).click();
    await ringing(b, 'Alice');
    await alert(a, 'Bob did not answer.');
    await closed(a);
    await closed(b);
    await notice(b, 'You missed a call from Alice.');
    await callMessage(a, 'Audio call, no answer');
    await callMessage(b, 'Missed audio call');
    // The list says it too, from the reader's side.
    await b.locator('#convs a.conv .conv-last', { hasText: 'Missed audio call' }).waitFor({ timeout: WAIT });
  } finally {
    await T.stop();
  }
});

test('unavailable: the callee has no device online, so nothing rings; "not reachable" on the caller\'s side', async () => {
  const [alice, bob] = await friends(H, 'Alice', 'Bob');
  const c = await H.direct(alice, bob);
  const a = await chat(H, alice, c);
  await a.getByRole('button', { name: 'Audio call' }).click();
  await alert(a, 'Bob is not online, so the call could not ring. They will see that you called.');
  await closed(a);
  await callMessage(a, 'Audio call, not reachable');
  // Bob sees it once he is back (catch-up), from his side.
  const b = await chat(H, bob, c);
  await callMessage(b, 'Missed audio call (you were offline)');
  await a.context().close(); await b.context().close();
});

test('busy: a third person calling someone in a call is told so, and the callee is not rung', async () => {
  const [bob, alice, carol] = await friends(H, 'Bob', 'Alice', 'Carol');
  const ab = await H.direct(alice, bob);
  const cb = await H.direct(carol, bob);
  const a = await chat(H, alice, ab);
  const b = await chat(H, bob, ab);
  const k = await chat(H, carol, cb);
  await a.getByRole('button', { name: 'Audio call' }).click();
  await (await ringing(b, 'Alice')).getByRole('button', { name: 'Accept audio' }).click();
  await Promise.all([inState(a, 'active'), inState(b, 'active')]);

  await k.getByRole('button', { name: 'Audio call' }).click();
  await alert(k, 'Bob is in another call. Try again later.');
  await closed(k);
  await callMessage(k, 'Audio call, busy');
  // Bob's list gets the busy call's message; he was never rung (the ring would have come before the message).
  await b.locator('#convs a.conv', { hasText: 'Carol' }).locator('.conv-last', { hasText: 'Missed audio call (you were in another call)' }).waitFor({ timeout: WAIT });
  assert.equal(await b.locator('#call-dialog').getAttribute('data-state'), 'active');
  assert.equal(await b.getByRole('dialog', { name: 'Carol is calling' }).count(), 0);

  await a.getByRole('button', { name: 'Hang up' }).click();
  await Promise.all([closed(a), closed(b)]);
  await Promise.all([callMessage(a, /^Audio call \(\d+:\d\d\)$/), callMessage(b, /^Audio call \(\d+:\d\d\)$/)]);
  for (const p of [a, b, k]) await p.context().close();
});

test('answered elsewhere: the callee rings on two devices, accepts on one (a phone), the other stops ringing', async () => {
  const [alice, bob] = await friends(H, 'Alice', 'Bob');
  const c = await H.direct(alice, bob);
  // Bob's second device: a session of its own (a second login), in a browser context of its own.
  const second = await H.http('POST', '/api/auth/login', { username: bob.username, password: PASSWORD });
  assert.notEqual(second.deviceId, bob.session.deviceId);
  const a = await chat(H, alice, c);
  const b1 = await chat(H, bob, c, { viewport: PHONE });
  const b2 = await chat(H, bob, c, { session: second });
  await a.getByRole('button', { name: 'Audio call' }).click();
  const ring1 = await ringing(b1, 'Alice');
  await ringing(b2, 'Alice');
  await ring1.getByRole('button', { name: 'Accept audio' }).click();
  await notice(b2, 'Answered on another device.');
  await closed(b2);
  await Promise.all([inState(a, 'active'), inState(b1, 'active')]);
  // On a phone the call fills the screen.
  const box = await b1.locator('#call-dialog').boundingBox();
  assert.equal(Math.round(box.width), PHONE.width);
  await shot(b1, 'call-phone.png');
  assert.equal(await b1.getByRole('dialog', { name: 'Call with Alice' }).getByRole('timer', { name: 'Call duration' }).count(), 1);
  await b1.getByRole('button', { name: 'Hang up' }).click();
  await Promise.all([closed(a), closed(b1)]);
  await callMessage(b2, /^Audio call \(\d+:\d\d\)$/);
  for (const p of [a, b1, b2]) await p.context().close();
});

test('two tabs of one browser (one device) both ring; accepting in one stops the other', async () => {
  const [alice, bob] = await friends(H, 'Alice', 'Bob');
  const c = await H.direct(alice, bob);
  const a = await chat(H, alice, c);
  const b1 = await chat(H, bob, c);
  const b2 = await chat(H, bob, c, { context: b1.context() }); // the same session: the server sees one device
  await a.getByRole('button', { name: 'Audio call' }).click();
  const ring1 = await ringing(b1, 'Alice');
  await ringing(b2, 'Alice');
  await ring1.getByRole('button', { name: 'Accept audio' }).click();
  await notice(b2, 'Answered in another tab.');
  await closed(b2);
  await Promise.all([inState(a, 'active'), inState(b1, 'active')]);
  // The other tab takes no part: the signals its socket also gets are not its call's.
  assert.equal(await b2.evaluate(() => window.parley.calls.current), null);
  await a.getByRole('button', { name: 'Hang up' }).click();
  await Promise.all([closed(a), closed(b1)]);
  await notice(b1, /Alice ended the call \(\d+:\d\d\)\./);
  await callMessage(b2, /^Audio call \(\d+:\d\d\)$/);
  await a.context().close(); await b1.context().close();
});

test('a stranger (no longer a friend) cannot call: said in plain words, nothing rings', async () => {
  const [alice, dave] = await friends(H, 'Alice', 'Dave');
  const c = await H.direct(alice, dave);
  await H.http('DELETE', `/api/friends/${dave.id}`, null, alice.token);
  const a = await chat(H, alice, c);
  const d = await chat(H, dave, c);
  await a.getByRole('button', { name: 'Audio call' }).click();
  await alert(a, 'You can only call people who are your friends. Dave is not your friend.');
  await closed(a);
  // The refused invite left no call: a second try is refused the same way (not "already in a call").
  await a.getByRole('button', { name: 'Video call' }).click();
  await a.locator('#alerts .toast', { hasText: 'You can only call people who are your friends.' }).nth(1).waitFor({ timeout: WAIT });
  assert.equal(await d.getByRole('dialog', { name: 'Alice is calling' }).count(), 0);
  await a.context().close(); await d.context().close();
});

test('a blocked caller cannot call: said in plain words', async () => {
  const [alice, bob] = await friends(H, 'Alice', 'Bob');
  const c = await H.direct(alice, bob);
  await H.http('PUT', `/api/blocks/${alice.id}`, null, bob.token);
  const a = await chat(H, alice, c);
  await a.getByRole('button', { name: 'Audio call' }).click();
  await alert(a, 'Bob has blocked you, so you cannot call them.');
  await closed(a);
  await a.context().close();
});

test('the microphone refused by the browser, or missing: the error in plain words, no call made', async (t) => {
  const [alice, bob] = await friends(H, 'Alice', 'Bob');
  const c = await H.direct(alice, bob);
  // A browser whose permission prompt is not answered yes (no --use-fake-ui-for-media-stream): headless chromium
  // refuses getUserMedia (NotAllowedError).
  const refusing = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--use-fake-device-for-media-stream'] });
  // A browser that says yes to every prompt but has no device at all (no fake devices on a machine without any).
  const deviceless = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--use-fake-ui-for-media-stream'] });
  try {
    const a = await chat(H, alice, c, { context: await refusing.newContext() });
    await a.getByRole('button', { name: 'Audio call' }).click();
    await alert(a, 'Parley can\'t use your microphone: allow it in the browser\'s site settings');
    await closed(a);
    await a.getByRole('button', { name: 'Video call' }).click();
    await alert(a, 'Parley can\'t use your microphone and camera: allow it in the browser\'s site settings');
    const n = await chat(H, alice, c, { context: await deviceless.newContext() });
    const noDevice = await n.evaluate(async () => (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'audioinput').length === 0);
    if (noDevice) {
      await n.getByRole('button', { name: 'Audio call' }).click();
      await alert(n, 'No microphone found. Connect one and try again.');
      await closed(n);
    } else t.diagnostic('this machine has a microphone: "No microphone found" was not checked');
    // No call was made: no call message in the conversation (a text sent after is the last message).
    await H.send(alice, c.id, 'after the refused calls');
    await a.locator('.msg', { hasText: 'after the refused calls' }).waitFor({ timeout: WAIT });
    assert.equal(await a.locator('.msg .call-words').count(), 0);
  } finally {
    await refusing.close();
    await deviceless.close();
  }
});
