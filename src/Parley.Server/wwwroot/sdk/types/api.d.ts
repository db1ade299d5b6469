/**
 * @param {string} code
 * @param {string} [detail]
 * @param {number} [status]
 */
export function plainWords(code: string, detail?: string, status?: number): string;
/**
 * The web client's store: localStorage (every tab of the origin), with the pair a refresh returns also written
 * to IndexedDB. Refresh tokens are single use and every tab shares them: one tab at a time refreshes (Web Locks),
 * and IndexedDB's committed writes every tab reads at once; localStorage is not enough there, since Chromium
 * hands other tabs its changes asynchronously, and a tab that read the spent refresh token from a stale copy
 * would present it again and the server would end the session (token_reused).
 * @param {string} [key]
 * @returns {SessionStore}
 */
export function localSession(key?: string): SessionStore;
/**
 * A session held by this page only (an embedded widget: the token came from the page's app server).
 * @param {Session | null} [initial]
 * @returns {SessionStore}
 */
export function memorySession(initial?: Session | null): SessionStore;
/** @returns {Session | null} */
export function loadSession(): Session | null;
/**
 * Called when the default client's session is gone for good (logout here or elsewhere, reuse, revocation).
 * @param {(code?: string) => void} handler
 */
export function setSignedOutHandler(handler: (code?: string) => void): void;
/**
 * @typedef {object} Tokens
 * @property {string} accessToken
 * @property {number} accessTokenExpiresAt epoch ms
 * @property {string} [refreshToken] absent when the app server hands out access tokens only
 * @property {number} [refreshTokenExpiresAt]
 */
/**
 * @typedef {object} User
 * @property {string} id
 * @property {string} username
 * @property {string | null} [nickname]
 * @property {string | null} [bio]
 * @property {string | null} [avatarFileId]
 * @property {string[]} [tags]
 * @property {number} [createdAt]
 */
/**
 * What register, login and `POST /api/admin/users/{id}/tokens` answer.
 * @typedef {object} Session
 * @property {User} user
 * @property {Tokens} tokens
 * @property {string} deviceId
 */
/**
 * Where the session lives. `load` and `save` are synchronous; `shared*` (optional) hold the newest token pair any
 * tab got, for stores that several tabs read (see `localSession`).
 * @typedef {object} SessionStore
 * @property {() => Session | null} load
 * @property {(session: Session | null) => void} save
 * @property {string} [lockName] Web Lock held while refreshing (one tab at a time); absent: no lock
 * @property {(deviceId: string) => Promise<Tokens | null>} [sharedTokens]
 * @property {(deviceId: string, tokens: Tokens) => Promise<void>} [shareTokens]
 */
/**
 * @typedef {object} ApiOptions
 * @property {string} [server] the server's origin (`https://chat.example.com`); empty or absent: this page's origin
 * @property {SessionStore} [session] default: `localSession()`
 * @property {() => Promise<string | Tokens>} [tokenProvider] asked for a new access token when the one held
 *   expires and there is no refresh token (an embedding page asks its app server)
 * @property {string} [device] the device name sent at login and register
 */
/** An HTTP error with the contract's `code` and a sentence a person can read. */
export class ApiError extends Error {
    /**
     * @param {number} status 0 when the server could not be reached
     * @param {string} code
     * @param {string} [detail]
     */
    constructor(status: number, code: string, detail?: string);
    status: number;
    code: string;
}
/**
 * One client of one server's HTTP API. Events: `signedout` (detail: the error code) when the session is gone for
 * good (logout here or elsewhere, reuse, revocation).
 */
export class Api extends EventTarget {
    /** @param {ApiOptions} [options] */
    constructor(options?: ApiOptions);
    /** The server's origin without a trailing slash; '' is this page's origin. */
    server: string;
    sessions: SessionStore;
    tokenProvider: (() => Promise<string | Tokens>) | undefined;
    device: string;
    /** @param {string} path a path of the API (`/api/...`) @returns {string} its absolute or same-origin URL */
    url(path: string): string;
    /** @returns {Session | null} */
    get session(): Session | null;
    /**
     * Hands over a session or a token got elsewhere: an app server's `POST /api/admin/users/{id}/tokens` answer, a
     * `tokens` object, or a bare access token (its expiry read from the JWT). A bare token keeps the user and
     * device already held.
     * @param {Session | Tokens | string} value
     */
    setToken(value: Session | Tokens | string): void;
    /**
     * A valid access token: the one held, refreshed first if it expires within a minute (or `force`).
     * @param {boolean} [force]
     * @returns {Promise<string>}
     */
    accessToken(force?: boolean): Promise<string>;
    /**
     * A JSON call. `auth: false` for register/login. Retries once with a forced refresh on token_expired.
     * @param {string} method
     * @param {string} path
     * @param {unknown} [body]
     * @param {{auth?: boolean}} [options]
     * @returns {Promise<any>}
     */
    call(method: string, path: string, body?: unknown, { auth }?: {
        auth?: boolean;
    }): Promise<any>;
    /**
     * Every page of a list endpoint.
     * @param {string} path
     * @returns {Promise<any[]>}
     */
    all(path: string): Promise<any[]>;
    /**
     * @param {string} username @param {string} password @param {string} [nickname]
     * @returns {Promise<Session>}
     */
    register(username: string, password: string, nickname?: string): Promise<Session>;
    /** @param {string} username @param {string} password @returns {Promise<Session>} */
    login(username: string, password: string): Promise<Session>;
    logout(): Promise<void>;
    /**
     * POST /api/files with progress (fetch has no upload progress, XMLHttpRequest does).
     * @param {Blob} file
     * @param {(fraction: number) => void} [onProgress]
     * @returns {Promise<{id: string, name: string, size: number, contentType: string, sha256: string, width?: number, height?: number, hasThumbnail: boolean}>}
     */
    upload(file: Blob, onProgress?: (fraction: number) => void): Promise<{
        id: string;
        name: string;
        size: number;
        contentType: string;
        sha256: string;
        width?: number;
        height?: number;
        hasThumbnail: boolean;
    }>;
    /**
     * Files are never servable without the Bearer header, so <img src> cannot point at them: fetch, then show an
     * object URL. Cached per (file, variant) for the life of the client.
     * @param {string} fileId
     * @param {boolean} [thumbnail]
     * @returns {Promise<string>}
     */
    fileUrl(fileId: string, thumbnail?: boolean): Promise<string>;
    #private;
}
/** The client the module-level functions use. */
export const defaultApi: Api;
export function accessToken(): Promise<string>;
export function api(method: string, path: string, body?: unknown, options?: {
    auth?: boolean;
}): Promise<any>;
export function all(path: string): Promise<any[]>;
export function register(username: string, password: string, nickname?: string): Promise<Session>;
export function login(username: string, password: string): Promise<Session>;
export function logout(): Promise<void>;
export function upload(file: Blob, onProgress?: (fraction: number) => void): Promise<{
    id: string;
    name: string;
    size: number;
    contentType: string;
    sha256: string;
    width?: number;
    height?: number;
    hasThumbnail: boolean;
}>;
export function fileUrl(fileId: string, thumbnail?: boolean): Promise<string>;
export type Tokens = {
    accessToken: string;
    /**
     * epoch ms
     */
    accessTokenExpiresAt: number;
    /**
     * absent when the app server hands out access tokens only
     */
    refreshToken?: string | undefined;
    refreshTokenExpiresAt?: number | undefined;
};
export type User = {
    id: string;
    username: string;
    nickname?: string | null | undefined;
    bio?: string | null | undefined;
    avatarFileId?: string | null | undefined;
    tags?: string[] | undefined;
    createdAt?: number | undefined;
};
/**
 * What register, login and `POST /api/admin/users/{id}/tokens` answer.
 */
export type Session = {
    user: User;
    tokens: Tokens;
    deviceId: string;
};
/**
 * Where the session lives. `load` and `save` are synchronous; `shared*` (optional) hold the newest token pair any
 * tab got, for stores that several tabs read (see `localSession`).
 */
export type SessionStore = {
    load: () => Session | null;
    save: (session: Session | null) => void;
    /**
     * Web Lock held while refreshing (one tab at a time); absent: no lock
     */
    lockName?: string | undefined;
    sharedTokens?: ((deviceId: string) => Promise<Tokens | null>) | undefined;
    shareTokens?: ((deviceId: string, tokens: Tokens) => Promise<void>) | undefined;
};
export type ApiOptions = {
    /**
     * the server's origin (`https://chat.example.com`); empty or absent: this page's origin
     */
    server?: string | undefined;
    /**
     * default: `localSession()`
     */
    session?: SessionStore | undefined;
    /**
     * asked for a new access token when the one held
     * expires and there is no refresh token (an embedding page asks its app server)
     */
    tokenProvider?: (() => Promise<string | Tokens>) | undefined;
    /**
     * the device name sent at login and register
     */
    device?: string | undefined;
};
