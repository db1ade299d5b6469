// The /ws connection: connects with ?access_token=, pings within heartbeatMs, reconnects with exponential
// backoff (with jitter), and correlates answers to requests by `ref`. Emits 'open' (after hello, on every
// connect and reconnect), 'frame' (every server frame), 'status' ('online' | 'connecting' | 'offline').

import { accessToken } from './api.js';

export class Socket extends EventTarget {
  #ws = null;
  #pending = new Map();
  #nextRef = 1;
  #attempt = 0;
  #timer = 0;
  #pinger = 0;
  #stopped = true;
  #paused = false;
  status = 'offline';

  start() {
    this.#stopped = false;
    this.#connect();
  }

  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#pinger);
    const ws = this.#ws;
    this.#ws = null; // detached first: its close (a 4001 after logout, say) must not reach a later session
    ws?.close(1000);
  }

  /** Test and debugging aid: drop the connection and stay away until resume(). */
  pause() { this.#paused = true; this.#ws?.close(1000); }
  resume() { this.#paused = false; this.#schedule(0); }

  async #connect() {
    if (this.#stopped || this.#paused) return;
    this.#setStatus('connecting');
    let token;
    try {
      token = await accessToken();
    } catch (error) {
      if (error.status === 401) return; // signed out; api.js has told the app
      this.#retry();
      return;
    }
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws?access_token=${encodeURIComponent(token)}`);
    this.#ws = ws;
    ws.onmessage = (event) => this.#receive(JSON.parse(event.data));
    ws.onclose = (event) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      clearInterval(this.#pinger);
      for (const { reject } of this.#pending.values()) reject(new Error('disconnected'));
      this.#pending.clear();
      this.#setStatus('offline');
      if (event.code === 4001) { this.dispatchEvent(new CustomEvent('revoked')); return; }
      this.#retry();
    };
  }

  #receive(frame) {
    if (frame.type === 'hello') {
      this.#attempt = 0;
      this.hello = frame;
      clearInterval(this.#pinger);
      this.#pinger = setInterval(() => this.send({ type: 'ping' }), Math.max(1000, frame.heartbeatMs / 2));
      this.#setStatus('online');
      this.dispatchEvent(new CustomEvent('open', { detail: frame }));
      return;
    }
    if (frame.ref !== undefined && this.#pending.has(frame.ref)) {
      const { resolve, reject } = this.#pending.get(frame.ref);
      this.#pending.delete(frame.ref);
      if (frame.type === 'error') reject(Object.assign(new Error(frame.message), { code: frame.code }));
      else resolve(frame);
      return;
    }
    this.dispatchEvent(new CustomEvent('frame', { detail: frame }));
  }

  #retry() {
    // 0.5 s, 1 s, 2 s, ... capped at 30 s, each with up to 50% random extra so many clients spread out.
    const base = Math.min(30_000, 500 * 2 ** this.#attempt++);
    this.#schedule(base + Math.random() * base / 2);
  }

  #schedule(ms) {
    clearTimeout(this.#timer);
    if (!this.#stopped && !this.#paused) this.#timer = setTimeout(() => this.#connect(), ms);
  }

  #setStatus(status) {
    this.status = status;
    this.dispatchEvent(new CustomEvent('status', { detail: status }));
  }

  get isOpen() { return this.#ws?.readyState === WebSocket.OPEN && this.status === 'online'; }

  /** Fire and forget; false if not connected. */
  send(frame) {
    if (!this.isOpen) return false;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  /** A frame whose answer carries the same ref (sent, messages, or error). */
  request(frame, timeoutMs = 15_000) {
    if (!this.isOpen) return Promise.reject(new Error('disconnected'));
    const ref = this.#nextRef++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.#pending.delete(ref); reject(new Error('timeout')); }, timeoutMs);
      this.#pending.set(ref, {
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.#ws.send(JSON.stringify({ ...frame, ref }));
    });
  }
}
