// <parley-chat> (/sdk/widget.js) embedded in a business page on another origin: a second local HTTP server (node
// http on another port) plays the business's web and app server. Its page asks its app server for a Parley session,
// which the app server gets with its API key (POST /api/admin/users/{id}/tokens), and hands it to the widget. The
// widget shows the conversation, sends and receives live, keeps its styles to itself; renews its token through
// tokenProvider; and on an origin not in Realtime:AllowedOrigins it shows an error instead of breaking.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { startParley, launch, freePort, root, WAIT } from './sdk-harness.mjs';

const KEY = 'widget-test-app-server-key-0123456789abcdef';
let parley, browser, shop, shopPort, agent, customer, conversationId;
const issued = { count: 0 };

// The business page. `?conversation=` opens one conversation, else the list; `?provider=1` hands over only a
// short-lived access token and renews it through tokenProvider.
function page(url) {
  const conversation = url.searchParams.get('conversation');
  const provider = url.searchParams.get('provider') === '1';
  return `<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<style>
  /* The page's own styles must not reach into the widget ... */
  li, p, button, textarea { color: rgb(255, 0, 0) !important; font-family: serif; }
  .msg { display: none; }
  header { background: rgb(0, 128, 0); }
</style>
<script type="module" src="${parley.base}/sdk/widget.js"></script>
</head><body>
<h1>Shop</h1>
<header id="shop-header">Shop header</header>
<div class="frame" id="outside-frame">outside</div>
<parley-chat style="width: 380px" server="${parley.base}"${conversation ? ` conversation="${conversation}"` : ''}></parley-chat>
<script type="module">
  const el = document.querySelector('parley-chat');
  const session = await (await fetch('/parley-session')).json();
  window.provided = 0;
  if (${provider}) {
    // An access token that counts as about to expire: the widget asks the page for the next one.
    el.tokenProvider = async () => { window.provided++; const s = await (await fetch('/parley-session')).json(); return { accessToken: s.tokens.accessToken, accessTokenExpiresAt: Date.now() + 30000 }; };
    el.token = { accessToken: session.tokens.accessToken, accessTokenExpiresAt: Date.now() + 30000 };
  } else {
    el.token = session;
  }
</script>
</body></html>`;
}

before(async () => {
  shopPort = await freePort();
  parley = await startParley((base) => [`--Realtime:AllowedOrigins:0=http://127.0.0.1:${shopPort}`, `--Realtime:AllowedOrigins:1=${base}`, `--Admin:ApiKeys:0=${KEY}`]);
  browser = await launch();
  agent = await parley.register('Agent');
  customer = await parley.http('POST', '/api/admin/users', { username: `customer_${Date.now().toString(36)}`, nickname: 'Customer', externalId: 'shop-42' }, { key: KEY });
  // The app server opens the conversation with a greeting from the agent (friendship not needed here)...
  const greeting = await parley.http('POST', '/api/admin/messages', { from: agent.user.id, to: customer.id, clientMsgId: 'greeting-1', type: 'text', content: { text: 'Welcome! How can we help?' } }, { key: KEY });
  conversationId = greeting.conversationId;
  // ... and the two become friends so the customer may answer (direct messages need friendship by default).
  const customerSession = await parley.http('POST', `/api/admin/users/${customer.id}/tokens`, { device: 'setup' }, { key: KEY });
  await parley.http('POST', '/api/friends/requests', { userId: agent.user.id }, { token: customerSession.tokens.accessToken });
  await parley.http('POST', '/api/friends/requests', { userId: customer.id }, { token: agent.token });

  // The business's server: its page, and its app-server call that gets the signed-in customer a Parley session.
  shop = createServer(async (req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    if (url.pathname === '/parley-session') {
      issued.count++;
      const session = await parley.http('POST', `/api/admin/users/${customer.id}/tokens`, { device: 'Shop widget' }, { key: KEY });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(session));
    } else if (url.pathname === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(page(url));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => shop.listen(shopPort, '127.0.0.1', resolve));
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (shop ? shop.close(resolve) : resolve()));
  await parley?.stop();
});

async function open(path, origin = `http://127.0.0.1:${shopPort}`) {
  const context = await browser.newContext();
  const p = await context.newPage();
  const errors = [];
  p.on('pageerror', (e) => errors.push(e.message));
  await p.goto(origin + path);
  return { page: p, context, errors };
}

const widget = (p) => p.locator('parley-chat'); // playwright's CSS locators pierce the open shadow root

test('the widget on another origin shows the conversation, sends and receives live, and keeps its styles apart', async () => {
  const { page: p, context, errors } = await open(`/?conversation=${conversationId}`);
  const w = widget(p);
  await w.locator('.msg', { hasText: 'Welcome! How can we help?' }).waitFor({ timeout: WAIT });
  await w.locator('.status', { hasText: 'Connected' }).waitFor({ timeout: WAIT });
  assert.equal(await w.locator('h2').textContent(), 'Agent');

  // Send from the widget: the agent receives it.
  await w.getByRole('textbox', { name: 'Message' }).fill('Where is my order?');
  await w.getByRole('textbox', { name: 'Message' }).press('Enter');
  await w.locator('.msg.mine[data-seq]', { hasText: 'Where is my order?' }).waitFor({ timeout: WAIT });
  const seen = await parley.http('GET', `/api/conversations/${conversationId}/messages?after=0`, undefined, { token: agent.token });
  assert.deepEqual(seen.items.map((m) => m.content.text), ['Welcome! How can we help?', 'Where is my order?']);

  // The agent answers: the widget shows it live, as text (markup in a message stays text).
  await parley.say(agent, conversationId, '<b onclick="alert(1)">bold?</b>');
  await w.locator('.msg.theirs', { hasText: '<b onclick="alert(1)">bold?</b>' }).waitFor({ timeout: WAIT });
  assert.equal(await w.locator('.msg b').count(), 0);
  await parley.say(agent, conversationId, 'It ships today.');
  await w.locator('.msg.theirs', { hasText: 'It ships today.' }).waitFor({ timeout: WAIT });
  // docs/screenshots refresh only when asked (PARLEY_SCREENSHOTS=1): a test run leaves the tree clean.
  if (process.env.PARLEY_SCREENSHOTS === '1') await w.screenshot({ path: join(root, 'docs', 'screenshots', 'widget-embedded.png') });

  // No leakage: the page's rules do not reach the widget's elements, and the widget's do not reach the page's.
  const styles = await p.evaluate(() => {
    const root = document.querySelector('parley-chat').shadowRoot;
    const msg = root.querySelector('.msg.theirs');
    return {
      msgDisplay: getComputedStyle(msg).display,
      msgColor: getComputedStyle(msg).color,
      widgetHeader: getComputedStyle(root.querySelector('header')).backgroundColor,
      pageHeader: getComputedStyle(document.getElementById('shop-header')).backgroundColor,
      pageFrameDisplay: getComputedStyle(document.getElementById('outside-frame')).display,
      pageStyleSheetsInWidget: root.styleSheets.length,
    };
  });
  assert.notEqual(styles.msgDisplay, 'none');
  assert.notEqual(styles.msgColor, 'rgb(255, 0, 0)');
  assert.notEqual(styles.widgetHeader, 'rgb(0, 128, 0)');
  assert.equal(styles.pageHeader, 'rgb(0, 128, 0)');
  assert.equal(styles.pageFrameDisplay, 'block'); // the widget's .frame { display: flex } stays inside
  assert.equal(styles.pageStyleSheetsInWidget, 1);
  assert.deepEqual(errors, []);
  await context.close();
});

test('without a conversation the widget lists conversations; one opens, and back returns to the list', async () => {
  const { page: p, context, errors } = await open('/');
  const w = widget(p);
  const entry = w.locator('button.conv', { hasText: 'Agent' });
  await entry.waitFor({ timeout: WAIT });
  await entry.click();
  await w.locator('.msg', { hasText: 'Welcome! How can we help?' }).waitFor({ timeout: WAIT });
  await w.getByRole('button', { name: 'Back to conversations' }).click();
  await entry.waitFor({ timeout: WAIT });
  assert.deepEqual(errors, []);
  await context.close();
});

test('the widget renews its token through tokenProvider, asking the page (and so the app server)', async () => {
  const before = issued.count;
  const { page: p, context, errors } = await open(`/?conversation=${conversationId}&provider=1`);
  const w = widget(p);
  await w.locator('.msg', { hasText: 'Welcome! How can we help?' }).waitFor({ timeout: WAIT });
  await p.waitForFunction(() => window.provided > 0, null, { timeout: WAIT });
  assert.ok(issued.count >= before + 2); // the page's first session, then at least one renewal
  await w.getByRole('textbox', { name: 'Message' }).fill('sent with a renewed token');
  await w.getByRole('textbox', { name: 'Message' }).press('Enter');
  await w.locator('.msg.mine[data-seq]', { hasText: 'sent with a renewed token' }).waitFor({ timeout: WAIT });
  assert.deepEqual(errors, []);
  await context.close();
});

test('with the network gone the widget says Offline, shows an unsent message with Retry, and sends it once', async () => {
  const { page: p, context, errors } = await open(`/?conversation=${conversationId}`);
  const w = widget(p);
  await w.locator('.status', { hasText: 'Connected' }).waitFor({ timeout: WAIT });
  await context.setOffline(true);
  await w.locator('.status', { hasText: 'Offline' }).waitFor({ timeout: WAIT });
  await w.getByRole('textbox', { name: 'Message' }).fill('typed in a tunnel');
  await w.getByRole('textbox', { name: 'Message' }).press('Enter');
  const unsent = w.locator('.msg.failed', { hasText: 'typed in a tunnel' });
  await unsent.waitFor({ timeout: WAIT });
  await context.setOffline(false);
  await w.locator('.status', { hasText: 'Connected' }).waitFor({ timeout: WAIT });
  await unsent.getByRole('button', { name: 'Retry' }).click();
  await w.locator('.msg.mine[data-seq]', { hasText: 'typed in a tunnel' }).waitFor({ timeout: WAIT });
  await unsent.waitFor({ state: 'detached', timeout: WAIT });
  const seen = await parley.http('GET', `/api/conversations/${conversationId}/messages?after=0`, undefined, { token: agent.token });
  assert.equal(seen.items.filter((m) => m.content.text === 'typed in a tunnel').length, 1);
  assert.deepEqual(errors, []);
  await context.close();
});

test('on an origin not in Realtime:AllowedOrigins the widget says it cannot reach the server, without breaking the page', async () => {
  // localhost is another origin than 127.0.0.1 (the listed one), served by the same business server.
  const { page: p, context, errors } = await open(`/?conversation=${conversationId}`, `http://localhost:${shopPort}`);
  const w = widget(p);
  await w.getByRole('alert').filter({ hasText: 'Cannot reach the chat server' }).waitFor({ timeout: WAIT });
  assert.equal(await w.locator('.msg').count(), 0);
  assert.deepEqual(errors, []);
  assert.equal(await p.locator('h1').textContent(), 'Shop'); // the page itself is fine
  await context.close();
});
