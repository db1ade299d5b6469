// The /ws connection: connects with ?access_token=, pings within heartbeatMs, counts the connection dead when
// nothing (not even a pong) arrived for a whole heartbeat, goes offline at once when the browser says the network
// is gone, reconnects with exponential backoff (with jitter) and at once when the network returns, and correlates
// answers to requests by `ref`. Emits 'open' (after hello, on every connect and reconnect), 'frame' (every server
// frame that is not an answer), 'status' ('online' | 'connecting' | 'offline') and 'revoked' (close 4001).

import { defaultApi, ApiError } from './api.js';

/** @typedef {'online' | 'connecting' | 'offline'} ConnectionStatus */
/** @typedef {{type: string, [member: string]: any}} Frame */

/**
 * @typedef {object} SocketOptions
 * @property {import('./api.js').Api} [api] whose server and token to use; default: the default client
 * @property {number} [requestTimeoutMs] how long a request waits for its answer (15000)
 * @property {number} [connectTimeoutMs] how long a connection may take to say hello before it is retried (15000)
 */

export class Socket extends EventTarget {
  /** @type {WebSocket | null} */
  #ws = null;
  /** @type {Map<number, {resolve: (frame: Frame) => void, reject: (error: Error) => void}>} */
  #pending = new Map();
  #nextRef = 1;
  #attempt = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #timer = undefined;
  /** @type {ReturnType<typeof setInterval> | undefined} */
  #pinger = undefined;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #handshake = undefined;
  #lastHeard = 0;
  #stopped = true;
  #paused = false;
  /** @type {ConnectionStatus} */
  status = 'offline';
  /** @type {Frame | null} the last `hello` */
  hello = null;

  /** @param {SocketOptions} [options] */
  constructor(options = {}) {
    super();
    this.api = options.api ?? defaultApi;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 15_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 15_000;
    this.onOffline = () => this.#drop();
    this.onOnline = () => {
      if (this.status === 'online') return;
      this.#attempt = 0;
      if (this.#ws) this.#drop(); // an attempt made while the network was away may hang: start afresh
      else this.#schedule(0);
    };
  }

  start() {
    this.#stopped = false;
    globalThis.addEventListener?.('offline', this.onOffline);
    globalThis.addEventListener?.('online', this.onOnline);
    this.#connect();
  }

  stop() {
    this.#stopped = true;
    globalThis.removeEventListener?.('offline', this.onOffline);
    globalThis.removeEventListener?.('online', this.onOnline);
    clearTimeout(this.#timer);
    clearTimeout(this.#handshake);
    clearInterval(this.#pinger);
    const ws = this.#ws;
    this.#ws = null; // detached first: its close (a 4001 after logout, say) must not reach a later session
    this.#failPending();
    ws?.close(1000);
    if (this.status !== 'offline') this.#setStatus('offline');
  }

  /** Test and debugging aid: drop the connection and stay away until resume(). */
  pause() { this.#paused = true; this.#drop(); }
  resume() { this.#paused = false; this.#schedule(0); }

  /** The WebSocket URL of the API's server (or of this page's origin). */
  #url() {
    const base = new URL(this.api.server || location.origin);
    base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    base.pathname = '/ws';
    return base;
  }

  async #connect() {
    if (this.#stopped || this.#paused || this.#ws) return;
    if (globalThis.navigator?.onLine === false) { this.#setStatus('offline'); return; } // 'online' brings it back
    this.#setStatus('connecting');
    let token;
    try {
      token = await this.api.accessToken();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) { this.#setStatus('offline'); return; } // signed out; the Api has said so
      this.#setStatus('offline');
      this.#retry();
      return;
    }
    if (this.#stopped || this.#paused || this.#ws) return;
    this.hello = null;
    const url = this.#url();
    url.searchParams.set('access_token', token);
    const ws = new WebSocket(url);
    this.#ws = ws;
    // A handshake that never finishes (a network dropping packets) is given up and retried.
    clearTimeout(this.#handshake);
    this.#handshake = setTimeout(() => { if (this.#ws === ws && !this.hello) this.#drop(); }, this.connectTimeoutMs);
    ws.onmessage = (event) => { this.#lastHeard = Date.now(); this.#receive(JSON.parse(event.data)); };
    ws.onclose = (event) => {
      if (this.#ws !== ws) return;
      this.#closed();
      if (event.code === 4001) { this.dispatchEvent(new CustomEvent('revoked')); return; }
      this.#retry();
    };
  }

  /** The connection is gone (or counts as gone): detach it, fail what waits on it, go offline, retry. */
  #drop() {
    const ws = this.#ws;
    if (!ws) { if (this.status !== 'offline') this.#setStatus('offline'); return; }
    this.#closed();
    ws.close(1000); // its onclose finds itself detached and does nothing
    this.#retry();
  }

  #closed() {
    this.#ws = null;
    clearInterval(this.#pinger);
    clearTimeout(this.#handshake);
    this.#failPending();
    this.#setStatus('offline');
  }

  #failPending() {
    for (const { reject } of this.#pending.values()) reject(new Error('disconnected'));
    this.#pending.clear();
  }

  /** @param {Frame} frame */
  #receive(frame) {
    if (frame.type === 'hello') {
      clearTimeout(this.#handshake);
      this.#attempt = 0;
      this.hello = frame;
      clearInterval(this.#pinger);
      const heartbeat = Math.max(1000, frame.heartbeatMs ?? 30_000);
      // A ping every half heartbeat is answered by a pong; nothing heard for a whole heartbeat: the link is dead
      // (a half-open TCP connection, a network that went away without a close).
      this.#pinger = setInterval(() => {
        if (Date.now() - this.#lastHeard > heartbeat) this.#drop();
        else this.send({ type: 'ping' });
      }, heartbeat / 2);
      this.#setStatus('online');
      this.dispatchEvent(new CustomEvent('open', { detail: frame }));
      return;
    }
    const waiting = frame.ref !== undefined ? this.#pending.get(frame.ref) : undefined;
    if (waiting) {
      this.#pending.delete(frame.ref);
      if (frame.type === 'error') waiting.reject(Object.assign(new Error(frame.message), { code: frame.code }));
      else waiting.resolve(frame);
      return;
    }
    this.dispatchEvent(new CustomEvent('frame', { detail: frame }));
  }

  #retry() {
    // 0.5 s, 1 s, 2 s, ... capped at 30 s, each with up to 50% random extra so many clients spread out.
    const base = Math.min(30_000, 500 * 2 ** this.#attempt++);
    this.#schedule(base + Math.random() * base / 2);
  }

  /** @param {number} ms */
  #schedule(ms) {
    clearTimeout(this.#timer);
    if (!this.#stopped && !this.#paused) this.#timer = setTimeout(() => this.#connect(), ms);
  }

  /** @param {ConnectionStatus} status */
  #setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.dispatchEvent(new CustomEvent('status', { detail: status }));
  }

  get isOpen() { return this.#ws?.readyState === WebSocket.OPEN && this.status === 'online'; }

  /**
   * Fire and forget; false if not connected.
   * @param {Frame} frame
   */
  send(frame) {
    if (!this.isOpen || !this.#ws) return false;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  /**
   * A frame whose answer carries the same ref (sent, messages, or error). Rejects with an Error whose `code` is
   * the server's when refused, without one when the connection is down or the answer did not come in time.
   * @param {Frame} frame
   * @param {number} [timeoutMs]
   * @returns {Promise<Frame>}
   */
  request(frame, timeoutMs = this.requestTimeoutMs) {
    const ws = this.#ws;
    if (!this.isOpen || !ws) return Promise.reject(new Error('disconnected'));
    const ref = this.#nextRef++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.#pending.delete(ref); reject(new Error('timeout')); }, timeoutMs);
      this.#pending.set(ref, {
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      ws.send(JSON.stringify({ ...frame, ref }));
    });
  }
}
