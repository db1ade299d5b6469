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
export function connect(options?: ConnectOptions): Promise<Client>;
export { Socket } from "./socket.js";
export type Session = import("./api.js").Session;
export type Tokens = import("./api.js").Tokens;
export type User = import("./api.js").User;
export type SessionStore = import("./api.js").SessionStore;
export type ConnectionStatus = import("./socket.js").ConnectionStatus;
export type Frame = import("./socket.js").Frame;
export type Message = import("./store.js").Message;
export type Conversation = import("./store.js").Conversation;
export type Outgoing = import("./store.js").Outgoing;
export type ConnectOptions = {
    /**
     * the server's origin; absent: this page's origin
     */
    server?: string | undefined;
    /**
     * a session or token got elsewhere (an app server's
     * `POST /api/admin/users/{id}/tokens` answer, or its access token); absent: the session already in `session`
     */
    token?: string | import("./api.js").Tokens | import("./api.js").Session | undefined;
    /**
     * where the session lives; default: in memory with `token`, else localStorage
     */
    session?: import("./api.js").SessionStore | undefined;
    /**
     * asked for a new access token before the one held expires
     * (when there is no refresh token)
     */
    tokenProvider?: (() => Promise<string | Tokens>) | undefined;
    /**
     * whether the user sees the conversation (reads are marked only then)
     */
    visible?: (() => boolean) | undefined;
};
export type Client = {
    api: Api;
    socket: Socket;
    store: Store;
    me: User;
    /**
     * stops the socket (the session is kept)
     */
    close: () => void;
};
import { Api } from './api.js';
import { Socket } from './socket.js';
import { Store } from './store.js';
export { Api, ApiError, plainWords, localSession, memorySession, defaultApi } from "./api.js";
export { Store, newClientMsgId } from "./store.js";
