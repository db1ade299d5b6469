// Parley's JS SDK: the HTTP API (Api), the WebSocket (Socket) and the client state with catch-up (Store), as
// plain ES modules with no dependencies. Served by Parley at /sdk/ (import from there, or from the npm package).
// See README.md beside this file.

import { Api, memorySession, localSession } from './api.js';
import { Socket } from './socket.js';
import { Store } from './store.js';

export { Api, ApiError, plainWords, localSession, memorySession, defaultApi } from './api.js';
export { Socket } from './socket.js';
export { Store, newClientMsgId } from './store.js';

/**
 * @typedef {import('./api.js').Session} Session
 * @typedef {import('./api.js').Tokens} Tokens
 * @typedef {import('./api.js').User} User
 * @typedef {import('./api.js').SessionStore} SessionStore
 * @typedef {import('./socket.js').ConnectionStatus} ConnectionStatus
 * @typedef {import('./socket.js').Frame} Frame
 * @typedef {import('./store.js').Message} Message
 * @typedef {import('./store.js').Conversation} Conversation
 * @typedef {import('./store.js').Outgoing} Outgoing
 */

/**
 * @typedef {object} ConnectOptions
 * @property {string} [server] the server's origin; absent: this page's origin
 * @property {Session | Tokens | string} [token] a session or token got elsewhere (an app server's
 *   `POST /api/admin/users/{id}/tokens` answer, or its access token); absent: the session already in `session`
 * @property {SessionStore} [session] where the session lives; default: in memory with `token`, else localStorage
 * @property {() => Promise<string | Tokens>} [tokenProvider] asked for a new access token before the one held expires
 *   (when there is no refresh token)
 * @property {() => boolean} [visible] whether the user sees the conversation (reads are marked only then)
 */

/**
 * @typedef {object} Client
 * @property {Api} api
 * @property {Socket} socket
 * @property {Store} store
 * @property {User} me
 * @property {() => void} close stops the socket (the session is kept)
 */

/**
 * Connects to a Parley server: checks the session (`GET /api/users/me`), opens the socket, and catches up by
 * after= on every (re)connect. Rejects with an ApiError when the session is not valid or the server cannot be
 * reached (status 0, code `network`: down, or this page's origin is not in the server's `Realtime:AllowedOrigins`).
 * @param {ConnectOptions} [options]
 * @returns {Promise<Client>}
 */
export async function connect(options = {}) {
  const api = new Api({
    server: options.server,
    session: options.session ?? (options.token ? memorySession() : localSession()),
    tokenProvider: options.tokenProvider,
  });
  if (options.token) api.setToken(options.token);
  /** @type {User} */
  const me = await api.call('GET', '/api/users/me');
  const session = api.session;
  if (session) api.sessions.save({ ...session, user: me });
  const socket = new Socket({ api });
  const store = new Store(me, socket, { visible: options.visible });
  socket.start();
  return { api, socket, store, me, close: () => socket.stop() };
}
