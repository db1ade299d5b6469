// Interop smoke of the XMPP gateway (docs/xmpp.md) with a second client implementation, not written by us: the npm
// package @xmpp/client (xmpp.js), against the built server with Xmpp:Port set, talking to a person in the web client
// in Debian's chromium. Loopback plaintext (Xmpp:AllowPlaintext=true): xmpp.js avoids PLAIN on an insecure stream by
// itself, so the test tells it to use PLAIN (its SCRAM is SCRAM-SHA-1, which Parley does not offer). slixmpp, the
// suite's main XMPP client, covers the rest in tests/Parley.Tests/Xmpp. Every wait is on an event or page state.
// Run: cd tests/web && node --test --test-reporter=spec xmpp-interop.test.mjs (after a Release build).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { client, xml } from '@xmpp/client';
import { start, freePort, WAIT, PASSWORD } from './client-harness.mjs';

const DOMAIN = 'parley.test';
let H;
let port;
before(async () => {
  port = await freePort();
  H = await start('xmpp', [`--Xmpp:Port=${port}`, `--Xmpp:Domain=${DOMAIN}`, '--Xmpp:AllowPlaintext=true', '--Xmpp:BindAddress=127.0.0.1']);
});
after(async () => { await H?.stop(); });

/** An xmpp.js client signed in as `u`; `stanzas` collects what arrives, `next(pred)` waits for one. */
async function connect(u) {
  const xmpp = client({
    service: `xmpp://127.0.0.1:${port}`,
    domain: DOMAIN,
    credentials: (authenticate, mechanisms) => {
      assert.ok(mechanisms.includes('PLAIN'), `PLAIN offered: ${mechanisms}`);
      return authenticate({ username: u.username, password: PASSWORD }, 'PLAIN');
    },
  });
  const stanzas = [];
  const waiters = new Set();
  xmpp.on('stanza', (s) => { stanzas.push(s); for (const w of waiters) if (w.pred(s)) { waiters.delete(w); w.resolve(s); } });
  xmpp.on('error', () => {}); // surfaced through start()/send() rejections
  const next = (pred) => {
    const found = stanzas.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      waiters.add(w);
      setTimeout(() => { if (waiters.delete(w)) reject(new Error('no such stanza in time')); }, WAIT);
    });
  };
  const jid = await xmpp.start();
  return { xmpp, jid: jid.toString(), stanzas, next };
}

test('xmpp.js and the web client chat both ways; a retried id is stored once; ping; a stranger gets an error stanza', async () => {
  const ann = await H.user('Ann');
  const bob = await H.user('Bob');
  const eve = await H.user('Eve');
  await H.befriend(ann, bob);
  const c = await H.direct(ann, bob);

  const x = await connect(ann);
  assert.match(x.jid, new RegExp(`^${ann.username}@${DOMAIN}/\\d+$`), 'bound to a device session');
  await x.xmpp.iqCaller.request(xml('iq', { type: 'get', to: DOMAIN }, xml('ping', { xmlns: 'urn:xmpp:ping' })));

  const page = await H.open(bob);
  await page.locator('#convs a.conv', { hasText: 'Ann' }).click();

  // Ann (xmpp.js) -> Bob (web client), sent twice with one id: one message.
  const hello = xml('message', { type: 'chat', to: `${bob.username}@${DOMAIN}`, id: 'xjs-1' }, xml('body', {}, 'hello from xmpp.js'));
  await x.xmpp.send(hello);
  await x.xmpp.send(hello);
  await page.locator('.msg .text', { hasText: /^hello from xmpp\.js$/ }).waitFor({ timeout: WAIT });

  // Bob answers in the web client; Ann gets a chat stanza from Bob's bare JID with its archive id.
  await page.locator('textarea').fill('hi from the browser');
  await page.keyboard.press('Enter');
  const reply = await x.next((s) => s.is('message') && s.getChildText('body') === 'hi from the browser');
  assert.equal(reply.attrs.type, 'chat');
  assert.equal(reply.attrs.from, `${bob.username}@${DOMAIN}`);
  assert.match(reply.getChild('stanza-id', 'urn:xmpp:sid:0').attrs.id, new RegExp(`^${c.id}:\\d+$`));

  const history = await H.http('GET', `/api/conversations/${c.id}/messages?after=0`, null, bob.token);
  assert.deepEqual(history.items.map((m) => m.content.text), ['hello from xmpp.js', 'hi from the browser']);
  assert.equal(history.items[0].clientMsgId, 'xjs-1');

  // Eve is nobody's friend: her chat is answered with an error stanza, and nothing reaches Bob.
  const e = await connect(eve);
  await e.xmpp.send(xml('message', { type: 'chat', to: `${bob.username}@${DOMAIN}`, id: 'eve-1' }, xml('body', {}, 'let me in')));
  const refused = await e.next((s) => s.is('message') && s.attrs.type === 'error' && s.attrs.id === 'eve-1');
  assert.ok(refused.getChild('error'), 'an <error/> child');
  await Promise.all([x.xmpp.stop(), e.xmpp.stop()]);
  await page.context().close();
});
