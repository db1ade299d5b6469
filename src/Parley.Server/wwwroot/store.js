// Client state: conversations, and per conversation the messages it holds keyed by seq (so a message that
// arrives both by push and by sync is stored once), with the catch-up algorithm of docs/protocol.md.
// Emits 'change' with detail {conversationId?} whenever something visible changed.

import { api, all, ApiError } from './api.js';

const PAGE = 50;

export class Store extends EventTarget {
  conversations = new Map(); // id -> conversation (+ loaded, held, oldest, hasOlder, peerReadSeq, typing)
  messages = new Map();      // id -> Map(seq -> message)
  users = new Map();         // id -> Promise<public profile>
  presence = new Map();      // userId -> online
  friends = [];
  openId = null;             // the conversation on screen
  #fetching = new Map();

  constructor(me, socket) {
    super();
    this.me = me;
    this.socket = socket;
  }

  changed(conversationId) { this.dispatchEvent(new CustomEvent('change', { detail: { conversationId } })); }

  user(id) {
    if (!this.users.has(id)) {
      const p = api('GET', `/api/users/${id}`);
      p.catch(() => this.users.delete(id));
      this.users.set(id, p);
    }
    return this.users.get(id);
  }

  remember(user) { if (user) this.users.set(user.id, Promise.resolve(user)); }

  sortedConversations() {
    const at = (c) => c.lastMessage?.sentAt ?? c.createdAt ?? 0;
    return [...this.conversations.values()].sort((a, b) => at(b) - at(a));
  }

  #merge(c) {
    const old = this.conversations.get(c.id);
    // A list answer can be older than a push already applied (the list was read before that message
    // committed): then its unread count and last message are stale and must not overwrite newer ones.
    const stale = old && (c.maxSeq < old.maxSeq || (c.maxSeq === old.maxSeq && (c.readSeq ?? 0) < (old.readSeq ?? 0)));
    const merged = !old
      ? { ...c, loaded: false, held: 0, oldest: 0, hasOlder: false, peerReadSeq: 0, typing: new Map() }
      : stale
        ? { ...old, ...c, maxSeq: old.maxSeq, unreadCount: old.unreadCount, lastMessage: old.lastMessage, mentioned: old.mentioned, readSeq: Math.max(old.readSeq ?? 0, c.readSeq ?? 0) }
        : { ...old, ...c };
    this.conversations.set(c.id, merged);
    this.remember(c.peer);
    return merged;
  }

  async loadFriends() {
    this.friends = await all('/api/friends');
    for (const f of this.friends) { this.remember(f.user); this.presence.set(f.user.id, f.online); }
    this.changed();
  }

  /** Step 1-2 of the catch-up: list conversations, then fetch `after=` what every held conversation lacks. */
  async catchUp() {
    const known = new Set(this.conversations.keys()); // one that appears while the list is read is not "gone"
    const list = await all('/api/conversations');
    const ids = new Set(list.map((c) => c.id));
    for (const c of list) this.#merge(c);
    for (const id of known) if (!ids.has(id)) this.conversations.delete(id);
    this.markRead();
    this.changed();
    await Promise.all([...this.conversations.values()].filter((c) => c.loaded && c.maxSeq > c.held).map((c) => this.fetchAfter(c.id)));
  }

  /** Fetches every message after the held seq until hasMore is false (one fetch per conversation at a time). */
  fetchAfter(id) {
    if (this.#fetching.has(id)) return this.#fetching.get(id).then(() => this.#needsMore(id) && this.fetchAfter(id));
    const run = (async () => {
      const c = this.conversations.get(id);
      for (;;) {
        const page = await api('GET', `/api/conversations/${id}/messages?after=${c.held}&limit=200`);
        this.#store(id, page.items);
        c.held = page.items.length ? Math.max(c.held, page.items.at(-1).seq) : Math.max(c.held, page.hasMore ? c.held : page.maxSeq);
        c.maxSeq = Math.max(c.maxSeq, page.maxSeq);
        if (!page.hasMore) { c.held = Math.max(c.held, page.maxSeq); break; }
      }
      if (id === this.openId) this.markRead();
      this.changed(id);
    })();
    this.#fetching.set(id, run);
    return run.finally(() => this.#fetching.delete(id));
  }

  #needsMore(id) { const c = this.conversations.get(id); return c && c.maxSeq > c.held; }

  #store(id, items) {
    if (!this.messages.has(id)) this.messages.set(id, new Map());
    const map = this.messages.get(id);
    for (const m of items) map.set(m.seq, m); // (conversationId, seq) is the identity: a repeat replaces itself
  }

  /** Opens a conversation: the first time, the latest page (`before=`), then anything after it. */
  async open(id) {
    this.openId = id;
    let c = this.conversations.get(id);
    if (!c) c = this.#merge(await api('GET', `/api/conversations/${id}`));
    if (!c.loaded) {
      const before = c.maxSeq + 1;
      const page = await api('GET', `/api/conversations/${id}/messages?before=${before}&limit=${PAGE}`);
      this.#store(id, page.items);
      c.loaded = true;
      c.held = Math.max(c.held, before - 1);
      c.oldest = page.items[0]?.seq ?? before;
      c.hasOlder = page.hasMore;
      await this.fetchAfter(id);
      this.#peerReceipts(c);
    }
    this.markRead();
    this.changed(id);
  }

  /** Scrollback: the page before the oldest seq held. */
  /** Loads earlier pages until the conversation holds <seq> (a search result), at most 50 pages of 200. */
  async loadBack(id, seq) {
    const c = this.conversations.get(id);
    for (let i = 0; i < 50 && c?.hasOlder && c.oldest > seq; i++) {
      const page = await api('GET', `/api/conversations/${id}/messages?before=${c.oldest}&limit=200`);
      this.#store(id, page.items);
      c.oldest = page.items[0]?.seq ?? c.oldest;
      c.hasOlder = page.hasMore && page.items.length > 0;
    }
    this.changed(id);
  }

  async loadOlder(id) {
    const c = this.conversations.get(id);
    if (!c?.hasOlder) return;
    const page = await api('GET', `/api/conversations/${id}/messages?before=${c.oldest}&limit=${PAGE}`);
    this.#store(id, page.items);
    c.oldest = page.items[0]?.seq ?? c.oldest;
    c.hasOlder = page.hasMore;
    this.changed(id);
  }

  // Whether the peer of a direct conversation has read my latest message (a `read` frame keeps it current).
  async #peerReceipts(c) {
    if (c.type !== 'direct') return;
    const mine = [...(this.messages.get(c.id)?.values() ?? [])].filter((m) => m.senderId === this.me.id).at(-1);
    if (!mine) return;
    try {
      const r = await api('GET', `/api/conversations/${c.id}/messages/${mine.seq}/receipts`);
      if (r.readBy.includes(c.peer.id)) { c.peerReadSeq = Math.max(c.peerReadSeq, mine.seq); this.changed(c.id); }
    } catch { /* receipts are a nicety; the message itself is shown either way */ }
  }

  /** Marks the open conversation read when the page is visible. */
  markRead() {
    const c = this.conversations.get(this.openId);
    if (!c || document.visibilityState !== 'visible') return;
    const seq = c.maxSeq;
    if (seq > 0 && c.held >= 0) this.socket.send({ type: 'ack', conversationId: c.id, seq: Math.min(seq, c.held) });
    if (c.unreadCount === 0 && !c.mentioned && c.readSeq >= seq) return;
    c.unreadCount = 0; c.mentioned = false; c.readSeq = seq;
    if (!this.socket.send({ type: 'read', conversationId: c.id, seq })) {
      api('POST', `/api/conversations/${c.id}/read`, { seq }).catch(() => {});
    }
    this.changed(c.id);
  }

  /** A message from a push, a `sent` answer or another source; new ones update the list entry. */
  async apply(m) {
    let c = this.conversations.get(m.conversationId);
    if (!c) {
      try { c = this.#merge(await api('GET', `/api/conversations/${m.conversationId}`)); } catch { return; }
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
    if (c.loaded) {
      this.#store(c.id, [m]);
      if (m.seq === c.held + 1) c.held = m.seq;
      else if (m.seq > c.held + 1) this.fetchAfter(c.id); // a gap: fetch it (step 5)
    }
    if (c.id === this.openId) this.markRead();
    this.changed(c.id);
  }

  /** Applies a server frame that is not an answer to a request. */
  handle(frame) {
    switch (frame.type) {
      case 'message': this.apply(frame.message); break;
      case 'recalled': {
        const m = this.messages.get(frame.conversationId)?.get(frame.seq);
        if (m) { m.recalled = true; m.content = null; }
        const c = this.conversations.get(frame.conversationId);
        if (c?.lastMessage?.seq === frame.seq) c.lastMessage = { ...c.lastMessage, recalled: true, content: null };
        this.changed(frame.conversationId);
        break;
      }
      case 'read': {
        const c = this.conversations.get(frame.conversationId);
        if (!c) break;
        if (frame.userId === this.me.id) {
          // Read on another tab or device: 0 if everything is read, else ask the server for the exact count.
          if (frame.seq >= c.maxSeq) { c.unreadCount = 0; c.mentioned = false; c.readSeq = frame.seq; this.changed(c.id); }
          else api('GET', `/api/conversations/${c.id}`).then((fresh) => { this.#merge(fresh); this.changed(c.id); }).catch(() => {});
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
    }
  }

  /** Sends over the socket when open, else over HTTP; the same clientMsgId makes a retry harmless. `mentions`: user ids or ['all']. */
  async send(conversationId, msgType, content, replyTo, mentions) {
    const clientMsgId = crypto.randomUUID();
    mentions = mentions?.length ? mentions : undefined;
    const body = { clientMsgId, type: msgType, content, replyTo: replyTo ?? undefined, mentions };
    let message;
    try {
      const answer = await this.socket.request({ type: 'send', conversationId, clientMsgId, msgType, content, replyTo: replyTo ?? undefined, mentions });
      message = answer.message;
    } catch (error) {
      if (error.code) throw new ApiError(0, error.code, error.message); // refused by the server: say why
      message = await api('POST', `/api/conversations/${conversationId}/messages`, body);
    }
    await this.apply(message);
    return message;
  }

  async recall(conversationId, seq) {
    const m = await api('POST', `/api/conversations/${conversationId}/messages/${seq}/recall`);
    this.handle({ type: 'recalled', conversationId, seq: m.seq });
  }

  async deleteForMe(conversationId, seq) {
    await api('DELETE', `/api/conversations/${conversationId}/messages/${seq}`);
    this.messages.get(conversationId)?.delete(seq);
    this.changed(conversationId);
  }
}
