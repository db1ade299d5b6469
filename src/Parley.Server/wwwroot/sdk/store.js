// Client state: conversations, and per conversation the messages it holds keyed by seq (so a message that
// arrives both by push and by sync is stored once), with the catch-up algorithm of docs/protocol.md: on every
// (re)connect (the socket's 'open') and on `resync` it catches up by after=; a pushed seq above held+1 (a gap)
// fetches the range. Outgoing messages wait in `outbox` (pending, or failed with a retry that keeps the
// clientMsgId, so a retry never makes a second message) until the server has them.
// Events: 'change' (detail {conversationId?}) whenever something visible changed; 'user' (detail {user}) when a
// profile changed (`user.updated`); 'error' (detail: the Error) when a background catch-up failed.

import { defaultApi, ApiError } from './api.js';

const PAGE = 50;

/**
 * @typedef {import('./api.js').User} User
 * @typedef {import('./api.js').Api} Api
 * @typedef {import('./socket.js').Socket} Socket
 * @typedef {import('./socket.js').Frame} Frame
 */

/**
 * @typedef {object} Message
 * @property {string} conversationId
 * @property {number} seq
 * @property {string} clientMsgId
 * @property {string} senderId
 * @property {string} type
 * @property {any} content null once recalled
 * @property {number | null} [replyTo]
 * @property {string[] | null} [mentions]
 * @property {number} sentAt
 * @property {boolean} recalled
 */

/**
 * A conversation as the server lists it, plus what this client keeps about it: `loaded` (its messages are
 * held), `held` (the seq up to which every message is held), `oldest`, `hasOlder`, `typing` (userId -> until).
 * @typedef {object} Conversation
 * @property {string} id
 * @property {'direct' | 'group'} type
 * @property {User} [peer]
 * @property {{id: string, name: string, avatarFileId?: string | null}} [group]
 * @property {number} maxSeq
 * @property {number} readSeq
 * @property {number} [ackSeq]
 * @property {number} unreadCount
 * @property {boolean} mentioned
 * @property {boolean} [muted]
 * @property {Message | null} [lastMessage]
 * @property {number} peerReadSeq how far the peer of a direct conversation has read (0 if unknown)
 * @property {number} [createdAt]
 * @property {boolean} loaded
 * @property {number} held
 * @property {number} oldest
 * @property {boolean} hasOlder
 * @property {Map<string, number>} typing
 */

/**
 * A message on its way: `pending` while it is being sent, `failed` (with the reason) when the server could not
 * be reached; `store.retry(clientMsgId)` sends it again with the same clientMsgId.
 * @typedef {object} Outgoing
 * @property {string} clientMsgId
 * @property {string} conversationId
 * @property {string} type
 * @property {any} content
 * @property {number} [replyTo]
 * @property {string[]} [mentions]
 * @property {'pending' | 'failed'} state
 * @property {Error} [error]
 * @property {number} createdAt
 */

/**
 * @typedef {object} StoreOptions
 * @property {Api} [api] default: the default client
 * @property {() => boolean} [visible] whether the user sees the page (reads are marked only then); default:
 *   `document.visibilityState === 'visible'`
 */

/** A random UUID, also outside secure contexts (where crypto.randomUUID is missing). */
export function newClientMsgId() {
  if (typeof globalThis.crypto?.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export class Store extends EventTarget {
  /** @type {Map<string, Conversation>} */
  conversations = new Map();
  /** @type {Map<string, Map<number, Message>>} conversationId -> (seq -> message) */
  messages = new Map();
  /** @type {Map<string, Promise<User>>} */
  users = new Map();
  /** @type {Map<string, boolean>} userId -> online */
  presence = new Map();
  /** @type {{user: User, remark?: string | null, since?: number, online?: boolean}[]} */
  friends = [];
  /** @type {Map<string, Outgoing>} clientMsgId -> message not yet stored by the server */
  outbox = new Map();
  /** @type {string | null} the conversation on screen */
  openId = null;
  /** @type {Map<string, Promise<void>>} */
  #fetching = new Map();

  /**
   * @param {User} me
   * @param {Socket} socket its 'open' and 'frame' events drive catch-up and live updates
   * @param {StoreOptions} [options]
   */
  constructor(me, socket, options = {}) {
    super();
    this.me = me;
    this.socket = socket;
    this.api = options.api ?? socket.api ?? defaultApi;
    this.visible = options.visible ?? (() => globalThis.document?.visibilityState !== 'hidden');
    socket.addEventListener('open', () => this.#background(this.catchUp()));
    socket.addEventListener('frame', (e) => this.handle(/** @type {CustomEvent<Frame>} */ (e).detail));
  }

  /** The connection's state: 'online', 'connecting' or 'offline'. */
  get status() { return this.socket.status; }

  /** @param {Promise<unknown>} promise */
  #background(promise) {
    promise.catch((error) => this.dispatchEvent(new CustomEvent('error', { detail: error })));
  }

  /** @param {string} [conversationId] */
  changed(conversationId) { this.dispatchEvent(new CustomEvent('change', { detail: { conversationId } })); }

  /** @param {string} id @returns {Promise<User>} a public profile, fetched once and kept current by `user.updated` */
  user(id) {
    let p = this.users.get(id);
    if (!p) {
      p = this.api.call('GET', `/api/users/${id}`);
      p.catch(() => this.users.delete(id));
      this.users.set(id, p);
    }
    return p;
  }

  /** @param {User | null | undefined} user */
  remember(user) { if (user) this.users.set(user.id, Promise.resolve(user)); }

  sortedConversations() {
    /** @param {Conversation} c */
    const at = (c) => c.lastMessage?.sentAt ?? c.createdAt ?? 0;
    return [...this.conversations.values()].sort((a, b) => at(b) - at(a));
  }

  /**
   * @param {any} c a conversation as the server answers it
   * @returns {Conversation}
   */
  #merge(c) {
    const old = this.conversations.get(c.id);
    // A list answer can be older than a push already applied (the list was read before that message
    // committed): then its unread count and last message are stale and must not overwrite newer ones.
    const stale = old && (c.maxSeq < old.maxSeq || (c.maxSeq === old.maxSeq && (c.readSeq ?? 0) < (old.readSeq ?? 0)));
    // peerReadSeq (direct conversations) only moves forward, whether from the server or from `read` frames.
    const peerReadSeq = Math.max(old?.peerReadSeq ?? 0, c.peerReadSeq ?? 0);
    this.remember(c.peer);
    if (!old) {
      /** @type {Conversation} */
      const fresh = { ...c, loaded: false, held: 0, oldest: 0, hasOlder: false, peerReadSeq, typing: new Map() };
      this.conversations.set(c.id, fresh);
      return fresh;
    }
    // Updated in place: whoever holds the object (an open() awaiting its first page, say) keeps the live one, and
    // what only this client knows (loaded, held, ...) stays.
    if (stale) Object.assign(old, { ...c, maxSeq: old.maxSeq, unreadCount: old.unreadCount, lastMessage: old.lastMessage, mentioned: old.mentioned, readSeq: Math.max(old.readSeq ?? 0, c.readSeq ?? 0), peerReadSeq });
    else Object.assign(old, c, { peerReadSeq });
    return old;
  }

  async loadFriends() {
    this.friends = await this.api.all('/api/friends');
    for (const f of this.friends) { this.remember(f.user); this.presence.set(f.user.id, !!f.online); }
    this.changed();
  }

  /** Step 1-2 of the catch-up: list conversations, then fetch `after=` what every held conversation lacks. */
  async catchUp() {
    const known = new Set(this.conversations.keys()); // one that appears while the list is read is not "gone"
    const list = await this.api.all('/api/conversations');
    const ids = new Set(list.map((c) => c.id));
    for (const c of list) this.#merge(c);
    for (const id of known) if (!ids.has(id)) this.conversations.delete(id);
    this.markRead();
    this.changed();
    await Promise.all([...this.conversations.values()].filter((c) => c.loaded && c.maxSeq > c.held).map((c) => this.fetchAfter(c.id)));
  }

  /**
   * Fetches every message after the held seq until hasMore is false (one fetch per conversation at a time).
   * @param {string} id
   * @returns {Promise<void>}
   */
  fetchAfter(id) {
    const running = this.#fetching.get(id);
    if (running) return running.then(() => { if (this.#needsMore(id)) return this.fetchAfter(id); });
    const run = (async () => {
      const c = this.conversations.get(id);
      if (!c) return;
      for (;;) {
        /** @type {{items: Message[], hasMore: boolean, maxSeq: number}} */
        const page = await this.api.call('GET', `/api/conversations/${id}/messages?after=${c.held}&limit=200`);
        this.#store(id, page.items);
        c.held = page.items.length ? Math.max(c.held, /** @type {Message} */ (page.items.at(-1)).seq) : Math.max(c.held, page.hasMore ? c.held : page.maxSeq);
        c.maxSeq = Math.max(c.maxSeq, page.maxSeq);
        if (!page.hasMore) { c.held = Math.max(c.held, page.maxSeq); break; }
      }
      if (id === this.openId) this.markRead();
      this.changed(id);
    })();
    this.#fetching.set(id, run);
    return run.finally(() => this.#fetching.delete(id));
  }

  /** @param {string} id */
  #needsMore(id) { const c = this.conversations.get(id); return !!c && c.maxSeq > c.held; }

  /** @param {string} id @param {Message[]} items */
  #store(id, items) {
    let map = this.messages.get(id);
    if (!map) { map = new Map(); this.messages.set(id, map); }
    for (const m of items) {
      map.set(m.seq, m); // (conversationId, seq) is the identity: a repeat replaces itself
      if (m.senderId === this.me.id && this.outbox.delete(m.clientMsgId)) this.changed(id); // it got there after all
    }
  }

  /**
   * Opens a conversation: the first time, the latest page (`before=`), then anything after it.
   * @param {string} id
   */
  async open(id) {
    this.openId = id;
    let c = this.conversations.get(id);
    if (!c) c = this.#merge(await this.api.call('GET', `/api/conversations/${id}`));
    if (!c.loaded) {
      const before = c.maxSeq + 1;
      /** @type {{items: Message[], hasMore: boolean}} */
      const page = await this.api.call('GET', `/api/conversations/${id}/messages?before=${before}&limit=${PAGE}`);
      this.#store(id, page.items);
      c.loaded = true;
      c.held = Math.max(c.held, before - 1);
      c.oldest = page.items[0]?.seq ?? before;
      c.hasOlder = page.hasMore;
      await this.fetchAfter(id);
    }
    this.markRead();
    this.changed(id);
  }

  /**
   * Loads earlier pages until the conversation holds <seq> (a search result), at most 50 pages of 200.
   * @param {string} id @param {number} seq
   */
  async loadBack(id, seq) {
    const c = this.conversations.get(id);
    for (let i = 0; i < 50 && c?.hasOlder && c.oldest > seq; i++) {
      /** @type {{items: Message[], hasMore: boolean}} */
      const page = await this.api.call('GET', `/api/conversations/${id}/messages?before=${c.oldest}&limit=200`);
      this.#store(id, page.items);
      c.oldest = page.items[0]?.seq ?? c.oldest;
      c.hasOlder = page.hasMore && page.items.length > 0;
    }
    this.changed(id);
  }

  /** Scrollback: the page before the oldest seq held. @param {string} id */
  async loadOlder(id) {
    const c = this.conversations.get(id);
    if (!c?.hasOlder) return;
    /** @type {{items: Message[], hasMore: boolean}} */
    const page = await this.api.call('GET', `/api/conversations/${id}/messages?before=${c.oldest}&limit=${PAGE}`);
    this.#store(id, page.items);
    c.oldest = page.items[0]?.seq ?? c.oldest;
    c.hasOlder = page.hasMore;
    this.changed(id);
  }

  /** Marks the open conversation read when the page is visible. */
  markRead() {
    const c = this.openId ? this.conversations.get(this.openId) : undefined;
    if (!c || !this.visible()) return;
    const seq = c.maxSeq;
    if (seq > 0 && c.held >= 0) this.socket.send({ type: 'ack', conversationId: c.id, seq: Math.min(seq, c.held) });
    if (c.unreadCount === 0 && !c.mentioned && c.readSeq >= seq) return;
    c.unreadCount = 0; c.mentioned = false; c.readSeq = seq;
    if (!this.socket.send({ type: 'read', conversationId: c.id, seq })) {
      this.api.call('POST', `/api/conversations/${c.id}/read`, { seq }).catch(() => {});
    }
    this.changed(c.id);
  }

  /**
   * A message from a push, a `sent` answer or another source; new ones update the list entry.
   * @param {Message} m
   */
  async apply(m) {
    let c = this.conversations.get(m.conversationId);
    if (!c) {
      try { c = this.#merge(await this.api.call('GET', `/api/conversations/${m.conversationId}`)); } catch { return; }
      this.changed(c.id);
    }
    if (m.seq > (c.lastMessage?.seq ?? 0)) c.lastMessage = m;
    if (m.seq > c.maxSeq) {
      c.maxSeq = m.seq;
      if (m.senderId !== this.me.id) {
        if (m.seq > c.readSeq) c.unreadCount += 1;
        if (m.mentions?.includes(this.me.id) || m.mentions?.includes('all')) c.mentioned = true;
        c.typing.delete(m.senderId);
      } else {
        c.readSeq = m.seq; c.unreadCount = 0; c.mentioned = false;
      }
    }
    if (m.senderId === this.me.id) this.outbox.delete(m.clientMsgId);
    if (c.loaded) {
      this.#store(c.id, [m]);
      if (m.seq === c.held + 1) c.held = m.seq;
      else if (m.seq > c.held + 1) this.#background(this.fetchAfter(c.id)); // a gap: fetch it (step 5)
    }
    if (c.id === this.openId) this.markRead();
    this.changed(c.id);
  }

  /**
   * Applies a server frame that is not an answer to a request (the socket's 'frame' events come here).
   * @param {Frame} frame
   */
  handle(frame) {
    switch (frame.type) {
      case 'message': this.apply(frame.message); break;
      case 'recalled': {
        const m = this.messages.get(frame.conversationId)?.get(frame.seq);
        if (m) { m.recalled = true; m.content = null; }
        const c = this.conversations.get(frame.conversationId);
        if (c?.lastMessage && c.lastMessage.seq === frame.seq) c.lastMessage = { ...c.lastMessage, recalled: true, content: null };
        this.changed(frame.conversationId);
        break;
      }
      case 'read': {
        const c = this.conversations.get(frame.conversationId);
        if (!c) break;
        if (frame.userId === this.me.id) {
          // Read on another tab or device: 0 if everything is read, else ask the server for the exact count.
          if (frame.seq >= c.maxSeq) { c.unreadCount = 0; c.mentioned = false; c.readSeq = frame.seq; this.changed(c.id); }
          else this.api.call('GET', `/api/conversations/${c.id}`).then((fresh) => { this.#merge(fresh); this.changed(c.id); }).catch(() => {});
        } else {
          c.peerReadSeq = Math.max(c.peerReadSeq, frame.seq);
          this.changed(c.id);
        }
        break;
      }
      case 'typing': {
        const c = this.conversations.get(frame.conversationId);
        if (!c || frame.userId === this.me.id) break;
        c.typing.set(frame.userId, Date.now() + 5000);
        setTimeout(() => { if ((c.typing.get(frame.userId) ?? 0) <= Date.now()) { c.typing.delete(frame.userId); this.changed(c.id); } }, 5100);
        this.changed(c.id);
        break;
      }
      case 'presence': this.presence.set(frame.userId, frame.online); this.changed(); break;
      case 'resync': this.#background(this.#resync(frame.conversationIds)); break;
      case 'notify': if (frame.kind === 'user.updated') this.#userUpdated(frame.data); break;
    }
  }

  /**
   * The server may have missed pushing to this device: catch up by after= for the listed conversations, or all.
   * @param {string[] | undefined} ids
   */
  async #resync(ids) {
    if (!ids) { await this.catchUp(); return; }
    await Promise.all(ids.map(async (id) => {
      if (!this.conversations.has(id)) return this.catchUp(); // a new one: the list has it
      this.#merge(await this.api.call('GET', `/api/conversations/${id}`));
      this.changed(id);
      if (this.conversations.get(id)?.loaded) await this.fetchAfter(id);
    }));
  }

  /**
   * `notify user.updated`: a friend's or co-member's profile (or my own, from another device) changed. Every copy
   * this store holds is updated, so names and avatars change everywhere without a reload.
   * @param {any} data `{user}` (or the profile itself)
   */
  #userUpdated(data) {
    /** @type {User | undefined} */
    const u = data?.user ?? (data?.id ? data : undefined);
    if (!u?.id) return;
    const cached = this.users.get(u.id);
    if (cached) {
      const next = cached.then((old) => /** @type {User} */ ({ ...old, ...u }), () => u);
      next.catch(() => {});
      this.users.set(u.id, next);
    }
    for (const f of this.friends) if (f.user.id === u.id) f.user = { ...f.user, ...u };
    for (const c of this.conversations.values()) if (c.peer?.id === u.id) c.peer = { ...c.peer, ...u };
    if (u.id === this.me.id) this.me = { ...this.me, ...u };
    this.dispatchEvent(new CustomEvent('user', { detail: { user: u } }));
    this.changed();
  }

  /**
   * Outgoing messages of a conversation not yet stored by the server, oldest first.
   * @param {string} conversationId
   * @returns {Outgoing[]}
   */
  pending(conversationId) {
    return [...this.outbox.values()].filter((o) => o.conversationId === conversationId).sort((a, b) => a.createdAt - b.createdAt);
  }

  /**
   * Sends a message. It is in `outbox` (state `pending`) at once; over the socket when open, else over HTTP. Resolves
   * with the stored message, or with null when the server could not be reached: then it stays in `outbox` as
   * `failed`, for `retry`. Rejects (and drops it from the outbox) when the server refused it (muted, blocked, ...).
   * @param {string} conversationId
   * @param {string} msgType
   * @param {any} content
   * @param {number | null} [replyTo]
   * @param {string[] | null} [mentions] user ids, or ['all']
   * @param {{clientMsgId?: string}} [options] `clientMsgId`: this one instead of a new random one
   * @returns {Promise<Message | null>}
   */
  send(conversationId, msgType, content, replyTo, mentions, options = {}) {
    /** @type {Outgoing} */
    const out = {
      clientMsgId: options.clientMsgId ?? newClientMsgId(), conversationId, type: msgType, content,
      replyTo: replyTo ?? undefined, mentions: mentions?.length ? mentions : undefined, state: 'pending', createdAt: Date.now(),
    };
    this.outbox.set(out.clientMsgId, out);
    return this.#deliver(out);
  }

  /**
   * Sends a failed message again, with its clientMsgId: the server stores it at most once.
   * @param {string} clientMsgId
   * @returns {Promise<Message | null>}
   */
  retry(clientMsgId) {
    const out = this.outbox.get(clientMsgId);
    if (!out) return Promise.resolve(null);
    return this.#deliver(out);
  }

  /** Gives up on a failed message (it may still have reached the server; catch-up then shows it). @param {string} clientMsgId */
  discard(clientMsgId) {
    const out = this.outbox.get(clientMsgId);
    if (out && this.outbox.delete(clientMsgId)) this.changed(out.conversationId);
  }

  /** @param {Outgoing} out @returns {Promise<Message | null>} */
  async #deliver(out) {
    out.state = 'pending';
    out.error = undefined;
    this.changed(out.conversationId);
    const { conversationId, clientMsgId, type, content, replyTo, mentions } = out;
    /** @type {Message} */
    let message;
    try {
      try {
        const answer = await this.socket.request({ type: 'send', conversationId, clientMsgId, msgType: type, content, replyTo, mentions });
        message = answer.message;
      } catch (error) {
        const code = /** @type {{code?: string}} */ (error).code;
        if (code) throw new ApiError(400, code, /** @type {Error} */ (error).message); // refused by the server: say why
        // The socket is down or the answer did not come: the same clientMsgId over HTTP.
        message = await this.api.call('POST', `/api/conversations/${conversationId}/messages`, { clientMsgId, type, content, replyTo, mentions });
      }
    } catch (error) {
      const status = error instanceof ApiError ? error.status : 0;
      if (!this.outbox.has(clientMsgId)) return null; // arrived meanwhile (catch-up found it)
      if (status === 0 || status >= 500) {
        out.state = 'failed';
        out.error = /** @type {Error} */ (error);
        this.changed(conversationId);
        return null;
      }
      this.outbox.delete(clientMsgId);
      this.changed(conversationId);
      throw error;
    }
    await this.apply(message);
    return message;
  }

  /** @param {string} conversationId @param {number} seq */
  async recall(conversationId, seq) {
    const m = await this.api.call('POST', `/api/conversations/${conversationId}/messages/${seq}/recall`);
    this.handle({ type: 'recalled', conversationId, seq: m.seq });
  }

  /** @param {string} conversationId @param {number} seq */
  async deleteForMe(conversationId, seq) {
    await this.api.call('DELETE', `/api/conversations/${conversationId}/messages/${seq}`);
    this.messages.get(conversationId)?.delete(seq);
    this.changed(conversationId);
  }
}
