// The web client's features of issue 17 (docs/web-client.md), each in a real browser against the built server:
// avatars, grouping and day separators, the unread divider and "jump to new", the unread count in the title and on
// the favicon, clickable links with user text kept inert (XSS), every message type, the emoji picker, paste and
// drop uploads with a caption, @ autocomplete with real mentions, quotes that jump, empty states, last seen,
// invite codes, desktop notifications.
// Run: cd tests/web && node --test --test-reporter=spec client-features.test.mjs (after a Release build).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, WAIT, png } from './client-harness.mjs';

let H;
before(async () => { H = await start('client-features'); });
after(async () => { await H?.stop(); });

async function uploadFile(u, bytes, name, type) {
  const form = new FormData();
  form.append('file', new Blob([bytes], { type }), name);
  const res = await fetch(H.base + '/api/files', { method: 'POST', headers: { Authorization: `Bearer ${u.token}` }, body: form });
  assert.equal(res.status, 201, await res.clone().text());
  return res.json();
}

// A short real WAV (silence), sniffed by the server as audio/wav.
function wav(ms = 500) {
  const rate = 8000, samples = Math.round(rate * ms / 1000);
  const b = Buffer.alloc(44 + samples);
  b.write('RIFF', 0); b.writeUInt32LE(36 + samples, 4); b.write('WAVE', 8); b.write('fmt ', 12);
  b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22); b.writeUInt32LE(rate, 24); b.writeUInt32LE(rate, 28);
  b.writeUInt16LE(1, 32); b.writeUInt16LE(8, 34); b.write('data', 36); b.writeUInt32LE(samples, 40); b.fill(128, 44);
  return b;
}

async function pair() {
  const alice = await H.user('Alice');
  const bob = await H.user('Bob');
  await H.befriend(alice, bob);
  const c = await H.direct(alice, bob);
  return { alice, bob, c };
}
const openConv = async (page, name) => {
  await page.locator('#convs a.conv', { hasText: name }).click();
  await page.locator('#composer').waitFor({ timeout: WAIT });
};

test('avatars of users and groups in the list, the chat header and the members, initials without a picture', async () => {
  const { alice, bob, c } = await pair();
  const pic = await uploadFile(bob, png(64, 64, [200, 40, 90]), 'bob.png', 'image/png');
  await H.http('PATCH', '/api/users/me', { avatarFileId: pic.id }, bob.token);
  const g = await H.http('POST', '/api/groups', { name: `Avatars ${H.run}`, memberIds: [bob.id] }, alice.token);
  await H.send(bob, c.id, 'hello');
  const page = await H.open(alice);
  const bobRow = page.locator('#convs a.conv', { hasText: 'Bob' });
  await page.waitForFunction(() => [...document.querySelectorAll('#convs .av img')].some((i) => i.src.startsWith('blob:') && i.naturalWidth > 0), null, { timeout: WAIT });
  assert.equal(await bobRow.locator('.av img').count(), 1);
  const groupRow = page.locator('#convs a.conv', { hasText: `Avatars ${H.run}` });
  assert.equal((await groupRow.locator('.av').textContent()).trim(), 'A' + String(H.run)[0].toUpperCase());
  await openConv(page, 'Bob');
  await page.locator('.chat-head .av img').waitFor({ timeout: WAIT });
  await page.goto(`${H.base}/#/groups/${g.id}`);
  await page.locator('#members .item', { hasText: 'Bob' }).locator('.av img').waitFor({ timeout: WAIT });
  assert.equal((await page.locator('#members .item', { hasText: 'Alice' }).locator('.av').textContent()).trim(), 'A');
  // An admin gives the group a picture: it shows on the group's page and in "Your groups". (The conversation list
  // shows it once the server's conversation.group carries the contract's avatarFileId; today it has {id, name}.)
  await page.getByLabel('Group picture').setInputFiles({ name: 'group.png', mimeType: 'image/png', buffer: png(48, 48, [20, 90, 160]) });
  await page.getByText('Group picture saved.').waitFor({ timeout: WAIT });
  await page.locator('#group-title .av img').waitFor({ timeout: WAIT });
  await page.getByRole('link', { name: 'Groups', exact: true }).click();
  await page.locator('#my-groups .item', { hasText: `Avatars ${H.run}` }).locator('.av img').waitFor({ timeout: WAIT });
  // One's own avatar beside "Profile" follows a saved profile at once.
  assert.equal((await page.locator('#me-avatar .av').textContent()).trim(), 'A');
  await page.getByRole('link', { name: 'Profile' }).click();
  await page.getByLabel('Avatar image').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: png(48, 48, [160, 90, 20]) });
  await page.getByRole('button', { name: 'Save profile' }).click();
  await page.getByText('Profile saved.').waitFor({ timeout: WAIT });
  await page.locator('#me-avatar .av img').waitFor({ timeout: WAIT });
  await page.context().close();
});

test('messages grouped by sender and minute, under a day separator', async () => {
  const { alice, bob, c } = await pair();
  for (const t of ['one', 'two', 'three']) await H.send(bob, c.id, t);
  await H.send(alice, c.id, 'mine');
  const page = await H.open(alice);
  await openConv(page, 'Bob');
  await page.locator('.msg .text', { hasText: 'mine' }).waitFor({ timeout: WAIT });
  assert.deepEqual(await page.locator('.messages > li.day').allTextContents(), ['Today']);
  const classes = await page.locator('.msg').evaluateAll((els) => els.map((e) => e.classList.contains('cont')));
  // one, two, three from Bob (two and three continue, unless the minute turned between them), then mine.
  assert.equal(classes[0], false);
  assert.equal(classes[3], false);
  const cont = page.locator('.msg.cont').first();
  if (await cont.count()) {
    assert.equal(await cont.locator('.who').evaluate((el) => el.getBoundingClientRect().width <= 1), true, 'a continuation hides sender and time (for the eye)');
    assert.match(await cont.locator('.who').textContent(), /Bob/, 'and keeps them for screen readers');
  }
  await page.context().close();
});

test('unread divider on opening, "jump to new" when a message arrives while reading back; unread count in the title and favicon', async () => {
  const { alice, bob, c } = await pair();
  for (let i = 1; i <= 30; i++) await H.send(alice, c.id, `old ${i}`);
  for (let i = 1; i <= 40; i++) await H.send(bob, c.id, `unread ${i}`);
  const page = await H.open(alice);
  await page.waitForFunction(() => document.title === '(40) Parley', null, { timeout: WAIT });
  assert.match(await page.locator('link[rel~="icon"]').getAttribute('href'), /^data:image\/png;base64,/);
  await openConv(page, 'Bob');
  const divider = page.locator('#unread-divider');
  await divider.waitFor({ timeout: WAIT });
  // The rows drawn while the chat opens sit at the bottom; the divider is brought into view once it has opened.
  await page.locator('.scroller[aria-busy="false"]').waitFor({ timeout: WAIT });
  // The divider is in view (the chat opened where the unread messages start), just before "unread 1".
  const place = await page.evaluate(() => {
    const d = document.getElementById('unread-divider');
    const box = document.querySelector('.scroller').getBoundingClientRect();
    const r = d.getBoundingClientRect();
    return { inView: r.top >= box.top - 2 && r.bottom <= box.bottom, next: d.nextElementSibling?.querySelector('.text')?.textContent };
  });
  assert.deepEqual(place, { inView: true, next: 'unread 1' });
  await page.waitForFunction(() => document.title === 'Parley', null, { timeout: WAIT });
  // Up in the history, a new message: the button counts it and takes the reader down.
  await page.evaluate(() => { document.querySelector('.scroller').scrollTop = 0; });
  await H.send(bob, c.id, 'brand new');
  const jump = page.getByRole('button', { name: /1 new message/ });
  await jump.waitFor({ timeout: WAIT });
  await jump.click();
  await page.waitForFunction(() => { const s = document.querySelector('.scroller'); return s.scrollHeight - s.scrollTop - s.clientHeight < 80; }, null, { timeout: WAIT });
  await jump.waitFor({ state: 'hidden', timeout: WAIT });
  await page.context().close();
});

test('links are clickable (http/https only, noopener noreferrer); markup and javascript: in messages stay inert text', async () => {
  const { alice, bob, c } = await pair();
  const evil = '<img src=x onerror="window.__xss=1"> and <script>window.__xss=2</script>';
  await H.send(bob, c.id, evil);
  await H.send(bob, c.id, 'javascript:window.__xss=3 and see https://example.com/tea?x=1&y=2. Thanks');
  await H.send(bob, c.id, { url: 'https://example.com/page', title: '<b onmouseover="window.__xss=4">bold</b>', description: '<img src=x onerror="window.__xss=5">' }, { type: 'link' });
  const page = await H.open(alice);
  await openConv(page, 'Bob');
  const first = page.locator('.msg .text', { hasText: '<img src=x' });
  await first.waitFor({ timeout: WAIT });
  assert.equal(await first.textContent(), evil);
  assert.equal(await page.locator('.msg .text img, .msg .text script, .msg .link-card b').count(), 0);
  const links = page.locator('.msg .text a');
  await links.first().waitFor({ timeout: WAIT });
  assert.deepEqual(await links.evaluateAll((as) => as.map((a) => [a.getAttribute('href'), a.textContent, a.rel, a.target])),
    [['https://example.com/tea?x=1&y=2', 'https://example.com/tea?x=1&y=2', 'noopener noreferrer', '_blank']]);
  const card = page.locator('a.link-card');
  assert.equal(await card.getAttribute('href'), 'https://example.com/page');
  assert.equal(await card.getAttribute('rel'), 'noopener noreferrer');
  assert.match(await card.textContent(), /<b onmouseover/);
  await card.hover();
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  await page.context().close();
});

test('every message type is shown: link preview, location, audio and video players, file, custom', async () => {
  const { alice, bob, c } = await pair();
  const pic = await uploadFile(bob, png(80, 60, [30, 120, 200]), 'preview.png', 'image/png');
  const sound = await uploadFile(bob, wav(), 'hello.wav', 'audio/wav');
  assert.equal(sound.contentType, 'audio/wav');
  await H.send(bob, c.id, { url: 'https://example.com/tea', title: 'All about tea', description: 'Leaves and water', imageFileId: pic.id }, { type: 'link' });
  await H.send(bob, c.id, { latitude: 51.5074, longitude: -0.1278, title: 'London' }, { type: 'location' });
  await H.send(bob, c.id, { fileId: sound.id, durationMs: 500 }, { type: 'audio' });
  await H.send(bob, c.id, { fileId: sound.id, durationMs: 500 }, { type: 'video' });
  await H.send(bob, c.id, { fileId: sound.id, name: 'notes.wav', size: sound.size }, { type: 'file' });
  await H.send(bob, c.id, { kind: 'poll', question: 'tea?' }, { type: 'custom' });
  const page = await H.open(alice);
  await openConv(page, 'Bob');
  const card = page.locator('a.link-card', { hasText: 'All about tea' });
  await card.waitFor({ timeout: WAIT });
  assert.match(await card.textContent(), /Leaves and water/);
  await page.waitForFunction(() => document.querySelector('.link-card img')?.src.startsWith('blob:'), null, { timeout: WAIT });
  const map = page.getByRole('link', { name: 'Open in a map' });
  assert.match(await map.getAttribute('href'), /^https:\/\/www\.openstreetmap\.org\/\?mlat=51\.5074&mlon=-0\.1278/);
  assert.match(await page.locator('.location').textContent(), /London/);
  await page.waitForFunction(() => document.querySelector('audio.audio')?.src.startsWith('blob:'), null, { timeout: WAIT });
  await page.waitForFunction(() => document.querySelector('audio.audio').readyState >= 1, null, { timeout: WAIT }); // metadata loaded: media-src allows it
  await page.getByRole('button', { name: /Play video/ }).click();
  await page.waitForFunction(() => document.querySelector('video.video')?.src.startsWith('blob:'), null, { timeout: WAIT });
  await page.getByRole('button', { name: /notes\.wav/ }).waitFor();
  await page.getByText('A custom message (this client does not show its content).').waitFor();
  assert.equal(await page.getByText(/\[(link|location|audio|video|custom) message\]/).count(), 0);
  await page.context().close();
});

test('emoji picker: opens, arrow keys move, Enter inserts at the caret, Escape closes back to the message box', async () => {
  const { alice } = await pair();
  const page = await H.open(alice);
  await openConv(page, 'Bob');
  await page.locator('#composer').fill('tea ');
  await page.getByRole('button', { name: 'Emoji', exact: true }).click();
  const panel = page.getByRole('dialog', { name: 'Emoji' });
  await panel.waitFor();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Enter');
  await panel.waitFor({ state: 'hidden' });
  assert.equal(await page.locator('#composer').inputValue(), 'tea 😃');
  await page.getByRole('button', { name: 'Emoji', exact: true }).click();
  await page.getByRole('button', { name: 'thumbs up' }).click();
  assert.equal(await page.locator('#composer').inputValue(), 'tea 😃👍');
  await page.getByRole('button', { name: 'Emoji', exact: true }).click();
  await page.keyboard.press('Escape');
  await panel.waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => document.activeElement.id), 'composer');
  await page.context().close();
});

test('a pasted image and a dropped file are sent with the text as their caption', async () => {
  const { alice, bob } = await pair();
  const page = await H.open(alice);
  await openConv(page, 'Bob');
  const bytes = [...png(20, 20, [10, 200, 10])];
  await page.evaluate((b) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(b)], 'pasted.png', { type: 'image/png' }));
    document.getElementById('composer').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  }, bytes);
  await page.locator('.staged', { hasText: 'pasted.png' }).waitFor({ timeout: WAIT });
  await page.locator('#composer').fill('look at this');
  await page.locator('#composer').press('Enter');
  // Stored rows ([data-seq]), not the outbox's "Sending…" ones: the server holds them (read back below).
  await page.locator('.msg.mine[data-seq] img.thumb').waitFor({ timeout: WAIT });
  await page.locator('.msg.mine[data-seq] .text', { hasText: 'look at this' }).waitFor({ timeout: WAIT });
  // Drop a text file on the chat.
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['plain notes'], 'notes.txt', { type: 'text/plain' }));
    const target = document.querySelector('.scroller');
    target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await page.locator('.staged', { hasText: 'notes.txt' }).waitFor({ timeout: WAIT });
  await page.locator('#composer').fill('the notes');
  await page.locator('#composer').press('Enter');
  await page.locator('.msg.mine[data-seq]').getByRole('button', { name: /notes\.txt/ }).waitFor({ timeout: WAIT });
  await page.locator('.msg.mine[data-seq] .text', { hasText: 'the notes' }).waitFor({ timeout: WAIT });
  assert.ok(await page.locator('.staged').isHidden());
  const c = (await H.http('GET', '/api/conversations', undefined, bob.token)).items[0];
  const last = await H.http('GET', `/api/conversations/${c.id}/messages?before=${c.maxSeq + 1}&limit=10`, undefined, bob.token);
  assert.deepEqual(last.items.map((m) => m.type), ['image', 'text', 'file', 'text']);
  await page.context().close();
});

test('@ autocomplete in a group sends real mentions', async () => {
  const [alice, bob, carol] = [await H.user('Alice'), await H.user('Bobby'), await H.user('Carol')];
  await H.befriend(alice, bob); await H.befriend(alice, carol);
  const g = await H.http('POST', '/api/groups', { name: `Mentions ${H.run}`, memberIds: [bob.id, carol.id] }, alice.token);
  const page = await H.open(alice);
  await openConv(page, `Mentions ${H.run}`);
  await page.locator('#composer').pressSequentially('hi @bo');
  const option = page.getByRole('option', { name: /Bobby/ });
  await option.waitFor({ timeout: WAIT });
  assert.equal(await page.getByRole('listbox').getByRole('option').count(), 1);
  await page.locator('#composer').press('Enter');
  assert.equal(await page.locator('#composer').inputValue(), 'hi @Bobby ');
  await page.locator('#composer').pressSequentially('tea?');
  await page.locator('#composer').press('Enter');
  await page.locator('.msg.mine[data-seq] .text', { hasText: 'hi @Bobby tea?' }).waitFor({ timeout: WAIT }); // stored: read back below
  const page2 = await H.http('GET', `/api/conversations/${g.conversationId}/messages?after=0&limit=10`, undefined, bob.token);
  assert.deepEqual(page2.items.at(-1).mentions, [bob.id]);
  const bobConv = await H.http('GET', `/api/conversations/${g.conversationId}`, undefined, bob.token);
  assert.equal(bobConv.mentioned, true);
  // Owners also get @all.
  await page.locator('#composer').pressSequentially('@al');
  await page.getByRole('option', { name: 'all' }).waitFor({ timeout: WAIT });
  await page.locator('#composer').press('Escape');
  await page.getByRole('listbox').waitFor({ state: 'hidden' });
  await page.context().close();
});

test('clicking a quote jumps to the original, loading earlier messages when needed', async () => {
  const { alice, bob, c } = await pair();
  const original = await H.send(bob, c.id, 'the original question');
  for (let i = 1; i <= 70; i++) await H.send(alice, c.id, `filler ${i}`);
  await H.send(alice, c.id, 'the answer', { replyTo: original.seq });
  const page = await H.open(alice);
  await openConv(page, 'Bob');
  const quote = page.locator('.msg', { hasText: 'the answer' }).locator('.quote');
  await quote.waitFor({ timeout: WAIT });
  await quote.click();
  const target = page.locator('.msg.found', { hasText: 'the original question' });
  await target.waitFor({ timeout: WAIT });
  const inView = await target.evaluate((el) => {
    const r = el.getBoundingClientRect(), box = document.querySelector('.scroller').getBoundingClientRect();
    return r.bottom > box.top && r.top < box.bottom && document.activeElement === el;
  });
  assert.ok(inView, 'the original is in view and focused');
  await page.context().close();
});

test('empty states say what to do', async () => {
  const loner = await H.user('Loner');
  const page = await H.open(loner);
  await page.locator('#convs .empty', { hasText: 'No conversations yet.' }).waitFor({ timeout: WAIT });
  await page.locator('#convs .empty').getByRole('link', { name: 'Find people' }).waitFor();
  const friend = await H.user('Pal');
  await H.befriend(loner, friend);
  const c = await H.direct(loner, friend);
  await page.goto(`${H.base}/#/chats/${c.id}`);
  await page.getByText('No messages yet. Say hello').waitFor({ timeout: WAIT });
  await page.context().close();
});

test('last seen: a friend who goes offline shows when', async () => {
  const { alice, bob } = await pair();
  const page = await H.open(alice);
  const bobPage = await H.open(bob);
  await page.locator('#convs a.conv', { hasText: 'Bob' }).locator('.dot.on').waitFor({ timeout: WAIT });
  await bobPage.context().close();
  await openConv(page, 'Bob');
  await page.locator('#chat-sub', { hasText: /^last seen today at / }).waitFor({ timeout: WAIT });
  await page.getByRole('link', { name: 'Friends', exact: true }).click();
  await page.locator('#friends .item', { hasText: 'Bob' }).locator('.last-seen').waitFor({ timeout: WAIT });
  await page.context().close();
});

test('invite codes: an admin makes one, an outsider joins a private group with the link, a revoked code no longer works', async () => {
  const [alice, carol, dave] = [await H.user('Alice'), await H.user('Carol'), await H.user('Dave')];
  const g = await H.http('POST', '/api/groups', { name: `Private ${H.run}`, visibility: 'private', joinPolicy: 'invite' }, alice.token);
  const page = await H.open(alice, { hash: `#/groups/${g.id}` });
  await page.getByRole('button', { name: 'Make an invite code' }).click();
  const code = (await page.locator('#invite-codes code').first().textContent({ timeout: WAIT })).trim();
  assert.ok(code.length >= 16);
  const carolPage = await H.open(carol, { hash: `#/join/${encodeURIComponent(code)}` });
  await carolPage.getByRole('button', { name: 'Join the group' }).click();
  await carolPage.locator('#chat-title', { hasText: `Private ${H.run}` }).waitFor({ timeout: WAIT });
  await page.getByRole('button', { name: 'Revoke' }).click();
  await page.locator('#invite-codes .empty').waitFor({ timeout: WAIT });
  // Joining with the code from the Groups page: refused in plain words now.
  const davePage = await H.open(dave, { hash: '#/groups' });
  await davePage.getByRole('textbox', { name: 'Invite code' }).fill(code);
  await davePage.getByRole('button', { name: 'Join with code' }).click();
  await davePage.getByRole('alert').getByText('That no longer exists.').waitFor({ timeout: WAIT });
  await Promise.all([page, carolPage, davePage].map((p) => p.context().close()));
});

test('desktop notifications: opt-in, for conversations not in view and not muted', async () => {
  const { alice, bob, c } = await pair();
  const carol = await H.user('Carol');
  await H.befriend(alice, carol);
  const c2 = await H.direct(alice, carol);
  await H.send(carol, c2.id, 'hi from carol');
  const context = await H.browser.newContext({ permissions: ['notifications'] });
  // Record what the page shows (the real Notification is still called).
  await context.addInitScript(() => {
    const Real = window.Notification;
    window.__shown = [];
    window.Notification = class extends Real { constructor(title, options) { super(title, options); window.__shown.push({ title, body: options?.body }); } };
    Object.defineProperty(window.Notification, 'permission', { get: () => Real.permission });
    window.Notification.requestPermission = (...a) => Real.requestPermission(...a);
  });
  const page = await H.open(alice, { context, hash: '#/profile' });
  await page.getByRole('button', { name: 'Turn on desktop notifications' }).click();
  await page.getByRole('button', { name: 'Turn off desktop notifications' }).waitFor({ timeout: WAIT });
  await H.send(bob, c.id, 'ping from bob');
  await page.waitForFunction(() => window.__shown.some((n) => n.body === 'ping from bob'), null, { timeout: WAIT });
  assert.deepEqual(await page.evaluate(() => window.__shown.at(-1)), { title: 'Bob', body: 'ping from bob' });
  // Muted: no notification. In view (open and focused): none either. A later message from Bob is the barrier.
  await H.http('PATCH', `/api/conversations/${c2.id}`, { muted: true }, alice.token);
  await page.reload();
  await page.locator('#conn.online').waitFor({ timeout: WAIT });
  await page.locator('#convs a.conv', { hasText: 'Carol' }).getByLabel('Muted').waitFor({ timeout: WAIT });
  await H.send(carol, c2.id, 'muted one');
  await H.send(bob, c.id, 'after the muted one');
  await page.waitForFunction(() => window.__shown.some((n) => n.body === 'after the muted one'), null, { timeout: WAIT });
  assert.equal(await page.evaluate(() => window.__shown.some((n) => n.body === 'muted one')), false);
  await context.close();
});
