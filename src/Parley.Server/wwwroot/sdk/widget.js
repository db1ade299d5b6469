// <parley-chat>: an embeddable chat window for a page on any origin the server allows (Realtime:AllowedOrigins).
//
//   <script type="module" src="https://chat.example.com/sdk/widget.js"></script>
//   <parley-chat server="https://chat.example.com" token="<access token from your app server>"
//                conversation="<conversation id>"></parley-chat>
//
// Without `conversation` it shows the user's conversation list. The token is what the page's app server got from
// `POST /api/admin/users/{id}/tokens` (its `tokens.accessToken`, or the whole answer as the `token` property);
// set `tokenProvider` (an async function returning a new token) so the widget renews it before it expires, or set
// `token` again. Everything renders in a shadow root with its own styles; nothing leaks in or out.

import { connect, ApiError } from './index.js';

/**
 * @typedef {import('./index.js').Client} Client
 * @typedef {import('./index.js').Message} Message
 * @typedef {import('./index.js').Conversation} Conversation
 * @typedef {import('./index.js').Outgoing} Outgoing
 * @typedef {import('./index.js').Session} Session
 * @typedef {import('./index.js').Tokens} Tokens
 */

const STYLE = `
:host { all: initial; display: block; contain: content; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1b1f24; background: #fff; border: 1px solid #c9d1d9; border-radius: 10px; overflow: hidden; height: 480px; min-width: 260px; }
* { box-sizing: border-box; }
.frame { display: flex; flex-direction: column; height: 100%; }
header { display: flex; align-items: center; gap: 8px; padding: 8px 12px; background: #0b57d0; color: #fff; }
header h2 { font-size: 15px; margin: 0; flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.status { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: rgba(255,255,255,.2); }
.status.offline { background: #fce8e6; color: #8c1d18; }
button { font: inherit; cursor: pointer; border-radius: 6px; border: 1px solid #0b57d0; background: #fff; color: #0b57d0; padding: 4px 10px; }
button.primary { background: #0b57d0; color: #fff; }
button.back { border-color: #fff; background: transparent; color: #fff; padding: 2px 8px; }
button:focus-visible, textarea:focus-visible, a:focus-visible { outline: 2px solid #e37400; outline-offset: 2px; }
.body { flex: 1; overflow-y: auto; padding: 8px 12px; }
ol, ul { list-style: none; margin: 0; padding: 0; }
.msg { margin: 6px 0; width: fit-content; max-width: 85%; padding: 6px 10px; border-radius: 10px; background: #eef1f5; word-wrap: break-word; white-space: pre-wrap; }
.msg.mine { margin-left: auto; background: #d3e3fd; }
.msg .meta { display: block; font-size: 11px; color: #4b5563; }
.msg.pending .meta::after { content: " · Sending…"; }
.msg.failed { background: #fce8e6; }
.msg.failed .meta { color: #8c1d18; }
.conv { display: block; width: 100%; text-align: left; border: 0; border-bottom: 1px solid #e5e7eb; border-radius: 0; color: inherit; padding: 8px 4px; }
.conv .name { font-weight: 600; display: block; }
.conv .last { color: #4b5563; font-size: 12px; }
.badge { float: right; background: #0b57d0; color: #fff; border-radius: 10px; padding: 0 7px; font-size: 12px; }
form { display: flex; gap: 6px; padding: 8px; border-top: 1px solid #e5e7eb; }
textarea { flex: 1; font: inherit; resize: none; border: 1px solid #9aa4b2; border-radius: 6px; padding: 6px; min-height: 36px; }
.error { margin: 12px; padding: 10px; border-radius: 8px; background: #fce8e6; color: #8c1d18; }
.empty { color: #4b5563; padding: 12px 0; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;

/** @param {string} tag @param {Record<string, any>} [attrs] @param {...(Node | string | null | undefined | false)} children */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c); // text as text, never HTML
  return el;
}

/** @param {Message | Outgoing} m */
function summary(m) {
  if ('recalled' in m && m.recalled) return 'This message was recalled.';
  switch (m.type) {
    case 'text': return m.content?.text ?? '';
    case 'image': return '[photo]';
    case 'file': return `[file: ${m.content?.name ?? 'file'}]`;
    case 'link': return m.content?.url ?? '[link]';
    default: return `[${m.type}]`;
  }
}

/** @param {{nickname?: string | null, username?: string} | undefined} u */
const nameOf = (u) => u?.nickname || u?.username || 'someone';

const STATUS_WORDS = { online: 'Connected', connecting: 'Connecting…', offline: 'Offline' };

export class ParleyChat extends HTMLElement {
  static observedAttributes = ['server', 'token', 'conversation'];

  /** @type {Client | null} */
  #client = null;
  /** @type {Session | Tokens | string | null} */
  #token = null;
  /** @type {string | null} the conversation shown (the attribute's, or one picked from the list) */
  #open = null;
  #generation = 0;
  /** @type {{id: string, body: HTMLElement, list: HTMLElement, title: HTMLElement, status: HTMLElement, scrolled: boolean} | null} the chat on screen */
  #view = null;
  /** @type {Map<string, string>} userId -> name, for group senders */
  #names = new Map();
  /** @type {(() => Promise<string | Tokens>) | undefined} */
  tokenProvider = undefined;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    const style = document.createElement('style');
    style.textContent = STYLE;
    this.frame = h('div', { class: 'frame', part: 'frame' });
    root.append(style, this.frame);
  }

  /** The token: a bare access token, a `tokens` object, or the whole `POST /api/admin/users/{id}/tokens` answer. */
  get token() { return this.#token; }
  set token(value) { this.setToken(value); }

  /** @param {Session | Tokens | string | null} value */
  setToken(value) {
    const had = this.#token;
    this.#token = value;
    if (this.#client && value) this.#client.api.setToken(value); // a renewal: the socket uses it on its next connect
    else if (!had || !this.#client) this.#restart();
  }

  connectedCallback() { this.#restart(); }

  disconnectedCallback() { this.#stop(); }

  /** @param {string} name @param {string | null} old @param {string | null} value */
  attributeChangedCallback(name, old, value) {
    if (old === value) return;
    if (name === 'token') { if (value) this.setToken(value); return; }
    if (this.isConnected) this.#restart();
  }

  #stop() {
    this.#generation++;
    this.#client?.close();
    this.#client = null;
  }

  async #restart() {
    this.#stop();
    const generation = this.#generation;
    const token = this.#token ?? this.getAttribute('token');
    if (!this.isConnected) return;
    if (!token) { this.#render(h('p', { class: 'empty', role: 'status' }, 'Waiting for sign-in…'), 'Chat'); return; } // the page sets `token`
    this.#open = this.getAttribute('conversation');
    this.#render(h('p', { class: 'empty', role: 'status' }, 'Connecting…'), 'Chat');
    try {
      const client = await connect({ server: this.getAttribute('server') ?? undefined, token, tokenProvider: this.tokenProvider && (() => /** @type {() => Promise<string | Tokens>} */ (this.tokenProvider)()) });
      if (generation !== this.#generation) { client.close(); return; }
      this.#client = client;
      client.store.addEventListener('change', () => this.#refresh());
      client.store.addEventListener('user', (e) => { const u = /** @type {CustomEvent} */ (e).detail.user; this.#names.set(u.id, nameOf(u)); });
      client.socket.addEventListener('status', () => this.#refresh());
      client.store.addEventListener('error', (e) => this.#announce(/** @type {CustomEvent<Error>} */ (e).detail.message));
      client.socket.addEventListener('revoked', () => { this.#stop(); this.#error('This chat session has ended.'); });
      client.api.addEventListener('signedout', () => { this.#stop(); this.#error('This chat session has ended.'); });
      try {
        if (this.#open) await client.store.open(this.#open);
        else await client.store.catchUp();
      } catch (error) {
        // Connected, then the network went while the chat opened (its catch-up is a round trip of its own): not the
        // end of the widget. The socket reconnects, and then the conversation is opened (or the list read) again.
        if (!(error instanceof ApiError && error.status === 0) || generation !== this.#generation) throw error;
        this.#announce(error.message);
        const again = () => {
          if (this.#client !== client) return;
          (this.#open ? client.store.open(this.#open) : client.store.catchUp()).then(() => this.#refresh(), (e) => this.#announce(/** @type {Error} */ (e).message));
        };
        if (client.socket.status === 'online') again();
        else client.socket.addEventListener('open', again, { once: true });
      }
      this.#refresh();
      this.dispatchEvent(new CustomEvent('parley-ready', { detail: { userId: client.me.id } }));
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#stop();
      const e = /** @type {Error} */ (error);
      this.#error(e instanceof ApiError && e.status === 0
        ? `Cannot reach the chat server${this.getAttribute('server') ? ` at ${this.getAttribute('server')}` : ''}: it is down, or it does not allow this site.`
        : e instanceof ApiError && e.status === 404 ? 'That conversation was not found.' : e.message);
      this.dispatchEvent(new CustomEvent('parley-error', { detail: { error: e } }));
    }
  }

  /** @param {string} text */
  #error(text) {
    this.#render(h('p', { class: 'error', role: 'alert' }, text), 'Chat');
  }

  /** @param {string} text */
  #announce(text) {
    const live = this.frame.querySelector('.live');
    if (live) live.textContent = text;
  }

  /** @param {Node} body @param {string} title @param {Node | null} [back] @param {Node | null} [footer] */
  #render(body, title, back = null, footer = null) {
    this.#view = null;
    const status = this.#client?.socket.status ?? 'connecting';
    this.frame.replaceChildren(
      h('header', {}, back, h('h2', {}, title),
        h('span', { class: `status ${status}`, role: 'status', hidden: !this.#client }, STATUS_WORDS[status])),
      body, ...(footer ? [footer] : []),
      h('p', { class: 'sr-only live', role: 'alert' }));
  }

  #refresh() {
    const client = this.#client;
    if (!client) return;
    if (this.#open) this.#renderChat(client, this.#open);
    else this.#renderList(client);
  }

  /** @param {Client} client */
  #renderList(client) {
    const items = client.store.sortedConversations().map((c) => h('li', {},
      h('button', { type: 'button', class: 'conv', 'data-conversation': c.id, onclick: () => this.#pick(c.id) },
        c.unreadCount > 0 ? h('span', { class: 'badge', 'aria-label': `${c.unreadCount} unread` }, String(c.unreadCount)) : null,
        h('span', { class: 'name' }, this.#title(c)),
        h('span', { class: 'last' }, c.lastMessage ? summary(c.lastMessage) : ''))));
    this.#render(h('div', { class: 'body' }, items.length ? h('ul', { 'aria-label': 'Conversations' }, ...items) : h('p', { class: 'empty' }, 'No conversations yet.')), 'Chats');
  }

  /** @param {string} id */
  async #pick(id) {
    this.#open = id;
    try { await this.#client?.store.open(id); } catch (error) { this.#announce(/** @type {Error} */ (error).message); }
    this.#refresh();
  }

  /** @param {Conversation} c */
  #title(c) { return c.type === 'direct' ? nameOf(c.peer) : c.group?.name ?? 'Group'; }

  /** @param {Client} client @param {string} id */
  #renderChat(client, id) {
    const { store, me } = client;
    const c = store.conversations.get(id);
    if (!c) return;
    // Built once per conversation; later changes only replace the message rows, the title and the status, so the
    // composer keeps its text, caret and focus while messages arrive.
    let view = this.#view;
    if (view?.id !== id) view = this.#buildChat(client, id);
    const { body, list, title, status } = view;
    const atBottom = body.scrollHeight - body.scrollTop - body.clientHeight < 40;
    title.textContent = this.#title(c);
    status.textContent = STATUS_WORDS[client.socket.status];
    status.className = `status ${client.socket.status}`;
    const messages = [...(store.messages.get(id)?.values() ?? [])].sort((a, b) => a.seq - b.seq);
    /** @type {Map<string, string>} */
    const names = new Map();
    const rows = messages.map((m) => {
      const mine = m.senderId === me.id;
      let sender = mine ? 'You' : names.get(m.senderId);
      if (!sender) {
        sender = m.senderId === c.peer?.id ? nameOf(c.peer) : this.#names.get(m.senderId) ?? '…';
        if (sender === '…') store.user(m.senderId).then((u) => { this.#names.set(u.id, nameOf(u)); this.#refresh(); }, () => {});
        names.set(m.senderId, sender);
      }
      return h('li', { class: `msg ${mine ? 'mine' : 'theirs'}`, 'data-seq': m.seq },
        h('span', { class: 'meta' }, sender, ' · ', new Date(m.sentAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })),
        summary(m));
    });
    const outgoing = store.pending(id).map((o) => h('li', { class: `msg mine ${o.state}`, 'data-client-msg-id': o.clientMsgId },
      h('span', { class: 'meta' }, 'You', o.state === 'failed' ? ' · Not sent' : ''),
      summary(o),
      o.state === 'failed' ? h('div', {}, h('button', { type: 'button', onclick: () => store.retry(o.clientMsgId).catch((e) => this.#announce(e.message)) }, 'Retry')) : null));
    const empty = rows.length === 0 && outgoing.length === 0;
    list.replaceChildren(...(empty ? [h('li', { class: 'empty' }, 'No messages yet. Say hello!')] : [...rows, ...outgoing]));
    if (atBottom || !view.scrolled) { body.scrollTop = body.scrollHeight; view.scrolled = true; }
  }

  /** @param {Client} client @param {string} id */
  #buildChat(client, id) {
    const { store } = client;
    const text = /** @type {HTMLTextAreaElement} */ (h('textarea', { id: 'text', rows: 1, maxlength: 16000, placeholder: 'Message' }));
    const form = /** @type {HTMLFormElement} */ (h('form', {
      onsubmit: (/** @type {Event} */ e) => {
        e.preventDefault();
        const value = text.value;
        if (!value.trim()) return;
        text.value = '';
        store.send(id, 'text', { text: value }).catch((/** @type {Error} */ err) => { text.value = value; this.#announce(err.message); });
      },
    }, h('label', { for: 'text', class: 'sr-only' }, 'Message'), text, h('button', { type: 'submit', class: 'primary' }, 'Send')));
    text.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
    });
    const back = this.getAttribute('conversation') ? null
      : h('button', { type: 'button', class: 'back', 'aria-label': 'Back to conversations', onclick: () => { this.#open = null; store.openId = null; this.#refresh(); } }, '←');
    const list = h('ol', { 'aria-label': 'Messages', 'aria-live': 'polite' });
    const body = h('div', { class: 'body', role: 'log', tabindex: '0' }, list);
    this.#render(body, '', back, form);
    const view = {
      id, body, list, scrolled: false,
      title: /** @type {HTMLElement} */ (this.frame.querySelector('h2')),
      status: /** @type {HTMLElement} */ (this.frame.querySelector('.status')),
    };
    this.#view = view;
    return view;
  }
}

if (!customElements.get('parley-chat')) customElements.define('parley-chat', ParleyChat);
