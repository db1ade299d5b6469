// axe-core (through @axe-core/playwright) on every screen of the web client: 0 violations of WCAG 2.x A/AA and
// axe's best practices. Screens: login, sign-up, password reset, the chat list, a direct chat with messages of
// several types, a group chat, friends, groups, a group's info, profile, search results, and the phone layout.
// Run: cd tests/web && node --test --test-reporter=spec a11y.test.mjs (after a Release build).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { start, WAIT, DESKTOP, PHONE, png } from './client-harness.mjs';

let H, alice, bob, carol, direct, group;
before(async () => {
  H = await start('a11y');
  [alice, bob, carol] = [await H.user('Alice'), await H.user('Bob'), await H.user('Carol')];
  await H.befriend(alice, bob); await H.befriend(alice, carol);
  direct = await H.direct(alice, bob);
  const first = await H.send(bob, direct.id, 'Hi Alice, see https://example.com/tea and this picture');
  await H.send(alice, direct.id, 'Lovely!', { replyTo: first.seq });
  await H.send(alice, direct.id, { latitude: 51.5, longitude: -0.12, title: 'The tea room' }, { type: 'location' });
  await H.http('POST', `/api/conversations/${direct.id}/read`, { seq: 3 }, bob.token);
  for (let i = 1; i <= 25; i++) await H.send(bob, direct.id, `more news ${i}`);
  await H.send(bob, direct.id, 'and one more unread');
  group = await H.http('POST', '/api/groups', { name: 'Tea club', memberIds: [bob.id, carol.id] }, alice.token);
  await H.send(alice, group.conversationId, 'Welcome to the tea club');
  await H.send(carol, group.conversationId, 'Oolong please');
});
after(async () => { await H?.stop(); });

async function axe(page, screen) {
  // Wait for the screen's fonts and layout to settle (two frames) so colour contrast is measured on what is shown.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const { violations } = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze();
  const said = violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')} ${n.failureSummary?.split('\n').slice(1, 2).join('') ?? ''}`).join('\n    ')}`);
  assert.deepEqual(said, [], `${screen}: axe violations`);
}

test('login, sign-up and password reset screens', async () => {
  const context = await H.browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  await page.goto(H.base + '/');
  await page.getByRole('heading', { name: 'Log in to Parley' }).waitFor({ timeout: WAIT });
  await axe(page, 'login');
  // with an error shown
  await page.getByLabel('Username').fill(bob.username);
  await page.getByLabel('Password').fill('wrong password!');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').getByText('Wrong username or password.').waitFor({ timeout: WAIT });
  await axe(page, 'login with an error');
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByRole('heading', { name: 'Create your Parley account' }).waitFor();
  await axe(page, 'sign-up');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Forgot password?' }).click();
  await page.getByRole('heading', { name: 'Reset your password' }).waitFor();
  await axe(page, 'password reset');
  await context.close();
});

test('chat list, a direct chat with messages, a group chat', async () => {
  const page = await H.open(alice);
  await page.locator('#convs a.conv', { hasText: 'Bob' }).waitFor({ timeout: WAIT });
  await axe(page, 'chat list');
  const file = join(H.tmp, 'tea.png');
  writeFileSync(file, png(64, 48, [20, 120, 60]));
  await page.locator('#convs a.conv', { hasText: 'Bob' }).click();
  await page.locator('.msg .text', { hasText: 'and one more unread' }).waitFor({ timeout: WAIT });
  await page.locator('#attach').setInputFiles(file);
  await page.locator('.msg.mine img.thumb').waitFor({ timeout: WAIT });
  await page.waitForFunction(() => [...document.querySelectorAll('img.thumb')].every((i) => i.complete && i.naturalWidth > 0), null, { timeout: WAIT });
  await page.locator('.msg.mine [data-receipt="read"]').first().waitFor({ timeout: WAIT });
  await axe(page, 'direct chat');
  // the actions shown (hover) and the reply bar
  const theirs = page.locator('.msg.theirs').first();
  await theirs.hover();
  await axe(page, 'direct chat, actions shown');
  await theirs.getByRole('button', { name: 'Reply' }).click();
  await page.locator('.reply-bar').waitFor();
  await axe(page, 'direct chat, replying');
  await page.getByRole('button', { name: 'Emoji', exact: true }).click();
  await page.getByRole('dialog', { name: 'Emoji' }).waitFor();
  await axe(page, 'direct chat, emoji picker open');
  await page.keyboard.press('Escape');
  await page.evaluate(() => { document.querySelector('.scroller').scrollTop = 0; });
  await page.locator('button.jump').waitFor({ timeout: WAIT }); // "Jump to latest" or "N new messages"
  await axe(page, 'direct chat, scrolled up');
  await page.locator('#convs a.conv', { hasText: 'Tea club' }).click();
  await page.locator('.msg .text', { hasText: 'Oolong please' }).waitFor({ timeout: WAIT });
  await axe(page, 'group chat');
  await page.locator('#composer').pressSequentially('@car');
  await page.getByRole('listbox').getByRole('option', { name: /Carol/ }).waitFor({ timeout: WAIT });
  await axe(page, 'group chat, mention list open');
  await page.context().close();
});

test('friends, groups, a group\'s info, profile and search', async () => {
  const page = await H.open(alice, { hash: '#/friends' });
  await page.locator('#friends .item').first().waitFor({ timeout: WAIT });
  await page.getByLabel('Find people by name').fill('Carol');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.locator('#search-results .item').first().waitFor({ timeout: WAIT });
  await axe(page, 'friends');
  await page.getByRole('link', { name: 'Groups' }).click();
  await page.locator('#my-groups .item').first().waitFor({ timeout: WAIT });
  await axe(page, 'groups');
  await page.goto(`${H.base}/#/groups/${group.id}`);
  await page.locator('#members .item').first().waitFor({ timeout: WAIT });
  await page.getByRole('button', { name: 'Make an invite code' }).click();
  await page.locator('#invite-codes code').waitFor({ timeout: WAIT });
  await axe(page, 'group info with an invite code');
  await page.goto(`${H.base}/#/join/some-code`);
  await page.getByRole('heading', { name: 'Join a group' }).waitFor({ timeout: WAIT });
  await axe(page, 'join by invite link');
  await page.getByRole('link', { name: 'Profile' }).click();
  await page.getByRole('heading', { name: 'Your profile' }).waitFor({ timeout: WAIT });
  await axe(page, 'profile');
  await page.getByLabel('Search all messages').fill('tea');
  await page.getByRole('button', { name: 'Find messages' }).click();
  await page.locator('.result').first().waitFor({ timeout: WAIT });
  await axe(page, 'search');
  await page.context().close();
});

test('keyboard: every control Tab reaches in a chat is visible (Attach too); the scroller is a named log', async () => {
  const page = await H.open(alice);
  await page.locator('#convs a.conv', { hasText: 'Bob' }).click();
  await page.locator('.msg .text', { hasText: 'Lovely!' }).waitFor({ timeout: WAIT });
  assert.equal(await page.getByRole('log', { name: 'Messages' }).count(), 1);
  await page.locator('.scroller').focus();
  const invisible = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement;
      const r = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      return { what: `${el.tagName}#${el.id}.${el.className} ${el.getAttribute('aria-label') ?? el.textContent.trim().slice(0, 20)}`, visible: r.width > 2 && r.height > 2 && style.opacity !== '0' && style.visibility !== 'hidden', composer: el.id === 'composer' };
    });
    if (!focused.visible) invisible.push(focused.what);
    if (focused.composer) break;
  }
  assert.deepEqual(invisible, [], 'focus never lands on something invisible');
  await page.context().close();
});

test('phone layout: the list and a chat', async () => {
  const page = await H.open(bob, { viewport: PHONE });
  await page.locator('#convs a.conv', { hasText: 'Alice' }).waitFor({ timeout: WAIT });
  await axe(page, 'phone chat list');
  await page.locator('#convs a.conv', { hasText: 'Alice' }).click();
  await page.locator('.msg .text', { hasText: 'Lovely!' }).waitFor({ timeout: WAIT });
  await axe(page, 'phone chat');
  await page.context().close();
});
