// The web client's bugs of issue 17, each shown by a test that failed before its fix (docs/web-client.md):
// notices that covered controls and errors that outlived their screen, the phone's hidden chat list after login,
// the jump on loading older messages, the login card at the left edge, always-shown bubble actions, the
// "not yet by 0" wording, mute with choices, member picking for a new group, drafts across reloads, the favicon.
// Run: cd tests/web && node --test --test-reporter=spec client-bugs.test.mjs (after a Release build).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, WAIT, DESKTOP, PHONE, PASSWORD } from './client-harness.mjs';

let H;
before(async () => { H = await start('client-bugs'); });
after(async () => { await H?.stop(); });

// Rectangles of toasts that overlap a control or a message (none expected).
const overlaps = (page) => page.evaluate(() => {
  const hit = [];
  const controls = [...document.querySelectorAll('button, a, input, textarea, select, label, .msg, .chat-head, .conv')]
    .filter((el) => !el.closest('.toasts') && el.getClientRects().length);
  for (const t of document.querySelectorAll('.toast')) {
    const a = t.getBoundingClientRect();
    for (const el of controls) {
      const b = el.getBoundingClientRect();
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) hit.push(`${t.textContent.trim()} over ${el.tagName}.${el.className}#${el.id}`);
    }
  }
  return hit;
});

test('notices never cover controls, and a failed login error goes when the screen does', async () => {
  const bob = await H.user('Bob');
  const context = await H.browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  await page.goto(H.base + '/');
  await page.getByLabel('Username').fill(bob.username);
  await page.getByLabel('Password').fill('wrong password!');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').getByText('Wrong username or password.').waitFor({ timeout: WAIT });
  assert.deepEqual(await overlaps(page), []);
  // Sign up right after: the login screen's error is gone with it.
  await page.getByRole('button', { name: 'Create an account' }).click();
  const username = `newbie_${H.run}`;
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.locator('#conn.online').waitFor({ timeout: WAIT });
  assert.equal(await page.locator('.toast').count(), 0, 'no toast of the login screen is left after sign-up');

  // In a chat: an error (blocked) and a notice (a friend request) cover neither the controls nor the messages.
  const me = (await page.evaluate(() => JSON.parse(localStorage.getItem('parley.session')))).user;
  const meUser = { id: me.id, token: await page.evaluate(() => JSON.parse(localStorage.getItem('parley.session')).tokens.accessToken) };
  await H.befriend(bob, meUser);
  const c = await H.direct(bob, meUser);
  await H.send(bob, c.id, 'first message');
  await page.locator('#convs a.conv', { hasText: 'Bob' }).click();
  await page.locator('.msg .text', { hasText: 'first message' }).waitFor({ timeout: WAIT });
  await H.http('PUT', `/api/blocks/${me.id}`, undefined, bob.token);
  await page.locator('#composer').fill('are you there?');
  await page.locator('#composer').press('Enter');
  await page.getByRole('alert').getByText('This person has blocked you').waitFor({ timeout: WAIT });
  const carol = await H.user('Carol');
  await H.http('POST', '/api/friends/requests', { userId: me.id }, carol.token);
  await page.getByRole('status').getByText('Carol wants to be your friend.').waitFor({ timeout: WAIT });
  assert.deepEqual(await overlaps(page), []);
  // Leaving the chat takes its error along (the notice is not the chat's).
  await page.getByRole('link', { name: 'Friends' }).click();
  await page.getByRole('heading', { name: 'Friends' }).first().waitFor({ timeout: WAIT });
  assert.equal(await page.locator('#alerts .toast').count(), 0);
  await context.close();
});

test('phone: the chat list shows right after login; desktop highlights Chats', async () => {
  const ann = await H.user('Ann');
  const phone = await H.open(ann, { viewport: PHONE });
  assert.equal(new URL(phone.url()).hash, '');
  await phone.locator('#convs').waitFor({ state: 'visible', timeout: WAIT });
  assert.ok(await phone.locator('#sidebar').isVisible(), 'the conversation list is visible');
  await phone.context().close();
  const desk = await H.open(ann, { viewport: DESKTOP });
  // The shell is drawn (and the socket online) before the first catch-up ends; the route, which marks the section, comes after it.
  await desk.locator('#nav-chats[aria-current="page"]').waitFor({ timeout: WAIT });
  assert.equal(await desk.locator('nav a[aria-current="page"]').count(), 1, 'one section is marked');
  await desk.context().close();
});

test('scrolling to the top loads older messages and keeps the view where it was', async () => {
  const alice = await H.user('Alice');
  const bob = await H.user('Bob');
  await H.befriend(alice, bob);
  const c = await H.direct(alice, bob);
  for (let i = 1; i <= 120; i++) await H.send(alice, c.id, `history ${i}`);
  const page = await H.open(bob);
  await page.locator('#convs a.conv', { hasText: 'Alice' }).click();
  await page.locator('.msg .text', { hasText: /^history 120$/ }).waitFor({ timeout: 2 * WAIT });
  await page.locator('.scroller[aria-busy="false"]').waitFor({ timeout: WAIT }); // opened and positioned (at the bottom)
  const topSeq = await page.evaluate(() => Number(document.querySelector('.msg').dataset.seq));
  const shown = await page.locator('.msg').count();
  // Scroll up by the wheel, as a person does, until the top is reached and the earlier page is asked for.
  await page.locator('.scroller').hover();
  await page.waitForFunction(() => { const s = document.querySelector('.scroller'); s.scrollBy(0, -400); return s.scrollTop === 0; }, null, { timeout: WAIT, polling: 50 });
  await page.waitForFunction((n) => document.querySelectorAll('.msg').length > n, shown, { timeout: WAIT });
  // Two frames: any scroll adjustment after the render has happened.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const where = await page.evaluate((seq) => {
    const el = document.querySelector(`.msg[data-seq="${seq}"]`).getBoundingClientRect();
    const box = document.querySelector('.scroller').getBoundingClientRect();
    return { top: el.top - box.top, height: box.height };
  }, topSeq);
  assert.ok(where.top >= -20 && where.top < 200, `the message that was at the top is still near the top: ${JSON.stringify(where)}`);
  await page.context().close();
});

test('the desktop login card is centred', async () => {
  const page = await H.browser.newPage({ viewport: DESKTOP });
  await page.goto(H.base + '/');
  const card = await page.locator('form.auth').boundingBox();
  const centre = card.x + card.width / 2;
  assert.ok(Math.abs(centre - DESKTOP.width / 2) < 4, `card centre ${centre} vs ${DESKTOP.width / 2}`);
  await page.close();
});

test('bubble actions show on hover and focus only; others\' bubbles keep no empty line for them', async () => {
  const alice = await H.user('Alice');
  const bob = await H.user('Bob');
  await H.befriend(alice, bob);
  const c = await H.direct(alice, bob);
  await H.send(bob, c.id, 'from bob');
  await H.send(alice, c.id, 'from alice');
  await H.http('POST', `/api/conversations/${c.id}/read`, { seq: 2 }, bob.token);
  const page = await H.open(alice);
  await page.locator('#convs a.conv', { hasText: 'Bob' }).click();
  const mine = page.locator('.msg.mine', { hasText: 'from alice' });
  const theirs = page.locator('.msg.theirs', { hasText: 'from bob' });
  await mine.locator('[data-receipt="read"]').waitFor({ timeout: WAIT });
  await page.mouse.move(0, 0);
  const opacity = (loc) => loc.locator('.actions').evaluate((el) => getComputedStyle(el).opacity);
  assert.equal(await opacity(mine), '0', 'own bubble: actions hidden until hover or focus');
  assert.equal(await opacity(theirs), '0');
  assert.ok(await mine.locator('[data-receipt="read"]').isVisible(), 'the receipt stays visible');
  const gap = await theirs.evaluate((el) => el.getBoundingClientRect().bottom - el.querySelector('.text').getBoundingClientRect().bottom);
  assert.ok(gap < 14, `no empty line under the text of others' bubbles (gap ${gap}px)`);
  await mine.hover();
  assert.equal(await opacity(mine), '1');
  await page.mouse.move(0, 0);
  await theirs.getByRole('button', { name: 'Reply' }).focus();
  assert.equal(await opacity(theirs), '1', 'keyboard focus shows them');
  await page.context().close();
});

test('"Seen by" names who read and who did not, never "not yet by 0"', async () => {
  const [alice, bob, carol] = [await H.user('Alice'), await H.user('Bob'), await H.user('Carol')];
  await H.befriend(alice, bob); await H.befriend(alice, carol);
  const g = await H.http('POST', '/api/groups', { name: `Seen ${H.run}`, memberIds: [bob.id, carol.id] }, alice.token);
  const m = await H.send(alice, g.conversationId, 'did you read this?');
  await H.http('POST', `/api/conversations/${g.conversationId}/read`, { seq: m.seq }, bob.token);
  const page = await H.open(alice);
  await page.locator('#convs a.conv', { hasText: `Seen ${H.run}` }).click();
  const msg = page.locator('.msg.mine', { hasText: 'did you read this?' });
  await msg.hover();
  await msg.getByRole('button', { name: 'Seen by' }).click();
  await page.getByText('Seen by Bob; not yet by Carol.').waitFor({ timeout: WAIT });
  await H.http('POST', `/api/conversations/${g.conversationId}/read`, { seq: m.seq }, carol.token);
  await msg.hover();
  await msg.getByRole('button', { name: 'Seen by' }).click();
  await page.getByText(/^Seen by (Bob and Carol|Carol and Bob)\.$/).waitFor({ timeout: WAIT });
  assert.equal(await page.getByText('not yet by 0').count(), 0);
  await page.context().close();
});

test('mute a conversation for a while or until turned off; shown in the list; a mute that ran out ends', async () => {
  const alice = await H.user('Alice');
  const bob = await H.user('Bob');
  await H.befriend(alice, bob);
  const c = await H.direct(alice, bob);
  await H.send(bob, c.id, 'hello');
  const page = await H.open(alice);
  await page.locator('#convs a.conv', { hasText: 'Bob' }).click();
  await page.locator('#composer').waitFor({ timeout: WAIT });
  const saved = page.waitForResponse((r) => r.url().endsWith(`/api/conversations/${c.id}`) && r.request().method() === 'PATCH', { timeout: WAIT });
  await page.getByLabel('Notifications').selectOption({ label: 'Muted until I turn it back on' });
  assert.equal((await saved).status(), 200);
  assert.equal((await H.http('GET', `/api/conversations/${c.id}`, undefined, alice.token)).muted, true);
  const mark = page.locator('#convs a.conv', { hasText: 'Bob' }).getByLabel('Muted');
  await mark.waitFor({ timeout: WAIT });
  await page.reload();
  await mark.waitFor({ timeout: WAIT });
  assert.equal(await page.getByLabel('Notifications').inputValue(), 'forever');

  // For an hour: muted now, and when the hour has passed (set in the past here), the client ends the mute.
  await page.getByLabel('Notifications').selectOption({ label: 'Muted for 1 hour' });
  await page.waitForFunction((id) => Object.keys(localStorage).some((k) => k.startsWith('parley.muteUntil.') && k.endsWith(id)), c.id, { timeout: WAIT });
  await page.evaluate((id) => { for (const k of Object.keys(localStorage)) if (k.startsWith('parley.muteUntil.') && k.endsWith(id)) localStorage.setItem(k, String(Date.now() - 1000)); }, c.id);
  const unmuted = page.waitForResponse((r) => r.url().endsWith(`/api/conversations/${c.id}`) && r.request().method() === 'PATCH', { timeout: WAIT });
  await page.reload();
  await unmuted;
  await mark.waitFor({ state: 'detached', timeout: WAIT });
  assert.equal((await H.http('GET', `/api/conversations/${c.id}`, undefined, alice.token)).muted, false);
  await page.context().close();
});

test('creating a group picks its members among friends', async () => {
  const [alice, bob, carol] = [await H.user('Alice'), await H.user('Bob'), await H.user('Carol')];
  await H.befriend(alice, bob); await H.befriend(alice, carol);
  const page = await H.open(alice, { hash: '#/groups' });
  await page.getByLabel('Group name').fill(`Picked ${H.run}`);
  await page.getByRole('checkbox', { name: 'Bob' }).check();
  await page.getByRole('button', { name: 'Create group' }).click();
  await page.getByRole('heading', { name: `Picked ${H.run}` }).waitFor({ timeout: WAIT });
  await page.locator('#members', { hasText: 'Bob' }).waitFor({ timeout: WAIT });
  assert.equal(await page.locator('#members', { hasText: 'Carol' }).count(), 0);
  await page.context().close();
});

test('the message and reply drafts are kept per conversation across a reload (and never the token)', async () => {
  const [alice, bob, carol] = [await H.user('Alice'), await H.user('Bob'), await H.user('Carol')];
  await H.befriend(alice, bob); await H.befriend(alice, carol);
  const c = await H.direct(alice, bob);
  await H.direct(alice, carol);
  await H.send(bob, c.id, 'what time tomorrow?');
  const page = await H.open(alice);
  await page.locator('#convs a.conv', { hasText: 'Bob' }).click();
  const q = page.locator('.msg.theirs', { hasText: 'what time tomorrow?' });
  await q.hover();
  await q.getByRole('button', { name: 'Reply' }).click();
  await page.locator('#composer').fill('ten o\'clock');
  await page.locator('#convs a.conv', { hasText: 'Carol' }).click();
  await page.locator('#composer').fill('for carol');
  await page.reload();
  await page.locator('#conn.online').waitFor({ timeout: WAIT });
  await page.locator('#convs a.conv', { hasText: 'Bob' }).click();
  await page.locator('.reply-bar', { hasText: 'what time tomorrow?' }).waitFor({ timeout: WAIT });
  assert.equal(await page.locator('#composer').inputValue(), 'ten o\'clock');
  await page.locator('#convs a.conv', { hasText: 'Carol' }).click();
  await page.waitForFunction(() => document.querySelector('#composer')?.value === 'for carol', null, { timeout: WAIT });
  assert.ok(await page.locator('.reply-bar').isHidden());
  const stored = await page.evaluate(() => Object.entries(localStorage).filter(([k]) => k.startsWith('parley.draft.')));
  assert.equal(stored.length, 2);
  assert.ok(stored.every(([, v]) => !v.includes(alice.session.tokens.accessToken) && !v.includes(alice.session.tokens.refreshToken)));
  // Sending clears the draft.
  await page.locator('#composer').press('Enter');
  await page.locator('.msg.mine .text', { hasText: 'for carol' }).waitFor({ timeout: WAIT });
  await page.waitForFunction(() => Object.keys(localStorage).filter((k) => k.startsWith('parley.draft.')).length === 1, null, { timeout: WAIT });
  await page.context().close();
});

test('a favicon: no 404 on any page', async () => {
  const ann = await H.user('Ann');
  const context = await H.browser.newContext({ viewport: DESKTOP });
  const missing = [];
  context.on('response', (r) => { if (r.status() === 404) missing.push(r.url()); });
  const page = await context.newPage();
  await page.goto(H.base + '/');
  await page.getByRole('heading', { name: 'Log in to Parley' }).waitFor({ timeout: WAIT });
  const icon = await page.evaluate(async () => (await fetch(document.querySelector('link[rel~="icon"]').href)).status);
  assert.equal(icon, 200);
  await page.evaluate((s) => localStorage.setItem('parley.session', JSON.stringify(s)), ann.session);
  await page.goto(H.base + '/#/friends');
  await page.reload();
  await page.locator('#conn.online').waitFor({ timeout: WAIT });
  await page.goto(H.base + '/admin/');
  await page.waitForLoadState('load');
  assert.equal((await fetch(H.base + '/favicon.ico')).status, 200);
  assert.deepEqual(missing, []);
  await context.close();
});
