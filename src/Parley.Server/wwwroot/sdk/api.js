// HTTP side of the public contract: the session (in localStorage for the web client, in memory for an embedded
// widget, or wherever a `SessionStore` puts it), Bearer calls, token refresh before expiry (coordinated across
// tabs), uploads with progress, and authenticated file bytes as object URLs.
//
// `Api` is one client of one server. The module-level functions (`api`, `all`, `login`, ...) act on the default
// client, `defaultApi`: this origin, the session in localStorage. The web client uses those; anything else (a
// page on another origin, a test) makes its own `new Api({ server, session })`.

const KEY = 'parley.session';
const REFRESH_MARGIN_MS = 60_000;

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
  constructor(status, code, detail) {
    super(plainWords(code, detail, status));
    this.status = status;
    this.code = code;
  }
}

/** @type {Record<string, string>} */
const WORDS = {
  rate_limited: 'You are doing that too often. Wait a moment and try again.',
  muted: 'You are muted in this group and cannot send messages right now.',
  blocked: 'This person has blocked you, so you cannot reach them.',
  not_friends: 'You can only message people who are your friends.',
  too_large: 'That is too large to send.',
  unsupported_media_type: 'That kind of file is not supported.',
  recall_window_passed: 'It is too late to recall that message.',
  invalid_credentials: 'Wrong username or password.',
  username_taken: 'That username is taken. Pick another.',
  token_reused: 'Your session ended. Please log in again.',
  unauthorized: 'Your session ended. Please log in again.',
  forbidden: 'You are not allowed to do that.',
  not_found: 'That no longer exists.',
  conflict: 'That was already done or conflicts with the current state.',
  network: 'Cannot reach the server. Check your connection.',
};

/**
 * @param {string} code
 * @param {string} [detail]
 * @param {number} [status]
 */
export function plainWords(code, detail, status) {
  if (code === 'invalid') return detail ? `Please check your input: ${detail}` : 'Please check your input.';
  return WORDS[code] ?? detail ?? `Something went wrong (${status ?? code}).`;
}

/**
 * The web client's store: localStorage (every tab of the origin), with the pair a refresh returns also written
 * to IndexedDB. Refresh tokens are single use and every tab shares them: one tab at a time refreshes (Web Locks),
 * and IndexedDB's committed writes every tab reads at once; localStorage is not enough there, since Chromium
 * hands other tabs its changes asynchronously, and a tab that read the spent refresh token from a stale copy
 * would present it again and the server would end the session (token_reused).
 * @param {string} [key]
 * @returns {SessionStore}
 */
export function localSession(key = KEY) {
  return {
    load() {
      try { return JSON.parse(localStorage.getItem(key) ?? 'null'); } catch { return null; }
    },
    save(session) {
      if (session) localStorage.setItem(key, JSON.stringify(session));
      else localStorage.removeItem(key);
    },
    lockName: 'parley.refresh',
    sharedTokens,
    shareTokens,
  };
}

/**
 * A session held by this page only (an embedded widget: the token came from the page's app server).
 * @param {Session | null} [initial]
 * @returns {SessionStore}
 */
export function memorySession(initial = null) {
  let session = initial;
  return { load: () => session, save: (s) => { session = s; } };
}

/** @returns {Promise<IDBDatabase>} IndexedDB `parley` / `tokens`, keyed by device session: the newest pair any tab got. */
function tokenDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open('parley', 1);
    request.onupgradeneeded = () => request.result.createObjectStore('tokens');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** @param {string} deviceId @returns {Promise<Tokens | null>} */
async function sharedTokens(deviceId) {
  if (!globalThis.indexedDB || !deviceId) return null;
  try {
    const db = await tokenDb();
    try {
      return await new Promise((resolve, reject) => {
        const get = db.transaction('tokens').objectStore('tokens').get(deviceId);
        get.onsuccess = () => resolve(get.result ?? null);
        get.onerror = () => reject(get.error);
      });
    } finally {
      db.close();
    }
  } catch {
    return null; // no IndexedDB (private mode, say): localStorage alone
  }
}

/** @param {string} deviceId @param {Tokens} tokens */
async function shareTokens(deviceId, tokens) {
  if (!globalThis.indexedDB || !deviceId) return;
  try {
    const db = await tokenDb();
    try {
      await new Promise((resolve, reject) => {
        const tx = db.transaction('tokens', 'readwrite');
        tx.objectStore('tokens').put(tokens, deviceId);
        tx.oncomplete = () => resolve(undefined);
        tx.onerror = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  } catch {
    // localStorage still has them
  }
}

/** @param {Response} response @returns {Promise<{code: string, detail?: string}>} */
async function readProblem(response) {
  try {
    const body = await response.json();
    return { code: body.code ?? String(response.status), detail: body.detail ?? body.title };
  } catch {
    return { code: String(response.status), detail: response.statusText };
  }
}

/**
 * The expiry of a JWT (its `exp`, in ms), for an access token handed over without its expiry.
 * @param {string} jwt
 */
function jwtExpiry(jwt) {
  try {
    const payload = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const exp = JSON.parse(atob(payload)).exp;
    return typeof exp === 'number' ? exp * 1000 : Date.now() + 10 * 60_000;
  } catch {
    return Date.now() + 10 * 60_000;
  }
}

/**
 * One client of one server's HTTP API. Events: `signedout` (detail: the error code) when the session is gone for
 * good (logout here or elsewhere, reuse, revocation).
 */
export class Api extends EventTarget {
  /** @type {Map<string, Promise<string>>} */
  #blobUrls = new Map();

  /** @param {ApiOptions} [options] */
  constructor(options = {}) {
    super();
    /** The server's origin without a trailing slash; '' is this page's origin. */
    this.server = (options.server ?? '').replace(/\/+$/, '');
    this.sessions = options.session ?? localSession();
    this.tokenProvider = options.tokenProvider;
    this.device = options.device ?? `Web (${globalThis.navigator?.platform || 'browser'})`.slice(0, 64);
  }

  /** @param {string} path a path of the API (`/api/...`) @returns {string} its absolute or same-origin URL */
  url(path) { return this.server + path; }

  /** @returns {Session | null} */
  get session() { return this.sessions.load(); }

  /**
   * Hands over a session or a token got elsewhere: an app server's `POST /api/admin/users/{id}/tokens` answer, a
   * `tokens` object, or a bare access token (its expiry read from the JWT). A bare token keeps the user and
   * device already held.
   * @param {Session | Tokens | string} value
   */
  setToken(value) {
    const old = this.sessions.load();
    if (typeof value === 'string') {
      const tokens = { accessToken: value, accessTokenExpiresAt: jwtExpiry(value) };
      this.sessions.save({ user: old?.user ?? /** @type {User} */ ({ id: jwtClaim(value, 'sub') ?? '', username: '' }), deviceId: old?.deviceId ?? jwtClaim(value, 'sid') ?? '', tokens });
    } else if ('tokens' in value) {
      this.sessions.save(value);
    } else {
      this.sessions.save({ user: old?.user ?? /** @type {User} */ ({ id: jwtClaim(value.accessToken, 'sub') ?? '', username: '' }), deviceId: old?.deviceId ?? '', tokens: value });
    }
  }

  /** @param {string} [code] */
  #signedOut(code) {
    this.sessions.save(null);
    this.dispatchEvent(new CustomEvent('signedout', { detail: code }));
  }

  /**
   * A valid access token: the one held, refreshed first if it expires within a minute (or `force`).
   * @param {boolean} [force]
   * @returns {Promise<string>}
   */
  async accessToken(force = false) {
    const run = async () => {
      let session = this.sessions.load();
      if (!session) throw new ApiError(401, 'unauthorized');
      const shared = await this.sessions.sharedTokens?.(session.deviceId);
      if (shared && shared.accessTokenExpiresAt > session.tokens.accessTokenExpiresAt) {
        session = { ...session, tokens: shared }; // another tab refreshed
        this.sessions.save(session);
      }
      const left = session.tokens.accessTokenExpiresAt - Date.now();
      if (!force && left > REFRESH_MARGIN_MS) return session.tokens.accessToken;
      if (!session.tokens.refreshToken) {
        // An access token from an app server: ask the page for the next one, else use it while it lasts.
        if (!this.tokenProvider) return session.tokens.accessToken;
        const next = await this.tokenProvider();
        this.setToken(next);
        return /** @type {Session} */ (this.sessions.load()).tokens.accessToken;
      }
      let response;
      try {
        response = await fetch(this.url('/api/auth/refresh'), {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ refreshToken: session.tokens.refreshToken }),
        });
      } catch {
        throw new ApiError(0, 'network');
      }
      if (!response.ok) {
        const problem = await readProblem(response);
        if (response.status === 401) this.#signedOut(problem.code);
        throw new ApiError(response.status, problem.code, problem.detail);
      }
      const { tokens } = await response.json();
      await this.sessions.shareTokens?.(session.deviceId, tokens);
      this.sessions.save({ ...session, tokens });
      return tokens.accessToken;
    };
    const lock = this.sessions.lockName;
    return lock && globalThis.navigator?.locks ? navigator.locks.request(lock, run) : run();
  }

  /**
   * A JSON call. `auth: false` for register/login. Retries once with a forced refresh on token_expired.
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @param {{auth?: boolean}} [options]
   * @returns {Promise<any>}
   */
  async call(method, path, body, { auth = true } = {}) {
    for (let attempt = 0; ; attempt++) {
      /** @type {Record<string, string>} */
      const headers = {};
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      if (auth) headers.Authorization = `Bearer ${await this.accessToken(attempt > 0)}`;
      let response;
      try {
        response = await fetch(this.url(path), { method, headers, credentials: 'omit', body: body === undefined ? undefined : JSON.stringify(body) });
      } catch {
        throw new ApiError(0, 'network');
      }
      if (response.ok) {
        // 204, and 202 without a body (an email code sent): nothing to parse.
        const text = await response.text();
        return text ? JSON.parse(text) : null;
      }
      const problem = await readProblem(response);
      if (auth && response.status === 401 && problem.code === 'token_expired' && attempt === 0) continue;
      if (auth && response.status === 401) this.#signedOut(problem.code);
      throw new ApiError(response.status, problem.code, problem.detail);
    }
  }

  /**
   * Every page of a list endpoint.
   * @param {string} path
   * @returns {Promise<any[]>}
   */
  async all(path) {
    const items = [];
    /** @type {string | null} */
    let cursor = null;
    do {
      const sep = path.includes('?') ? '&' : '?';
      /** @type {{items: any[], nextCursor: string | null}} */
      const page = await this.call('GET', `${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return items;
  }

  /**
   * @param {string} username @param {string} password @param {string} [nickname]
   * @returns {Promise<Session>}
   */
  async register(username, password, nickname) {
    const result = await this.call('POST', '/api/auth/register', { username, password, nickname: nickname || undefined, device: this.device }, { auth: false });
    this.sessions.save(result);
    return result;
  }

  /** @param {string} username @param {string} password @returns {Promise<Session>} */
  async login(username, password) {
    const result = await this.call('POST', '/api/auth/login', { username, password, device: this.device }, { auth: false });
    this.sessions.save(result);
    return result;
  }

  async logout() {
    const session = this.sessions.load();
    this.sessions.save(null);
    if (session?.tokens.refreshToken) {
      await fetch(this.url('/api/auth/logout'), {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'omit',
        body: JSON.stringify({ refreshToken: session.tokens.refreshToken }),
      }).catch(() => {});
    }
  }

  /**
   * POST /api/files with progress (fetch has no upload progress, XMLHttpRequest does).
   * @param {Blob} file
   * @param {(fraction: number) => void} [onProgress]
   * @returns {Promise<{id: string, name: string, size: number, contentType: string, sha256: string, width?: number, height?: number, hasThumbnail: boolean}>}
   */
  async upload(file, onProgress) {
    const token = await this.accessToken();
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', this.url('/api/files'));
      xhr.setRequestHeader('Authorization', `Bearer ${token}`);
      xhr.responseType = 'json';
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress?.(e.loaded / e.total); };
      xhr.onload = () => {
        if (xhr.status === 201) resolve(xhr.response);
        else reject(new ApiError(xhr.status, xhr.response?.code ?? String(xhr.status), xhr.response?.detail));
      };
      xhr.onerror = () => reject(new ApiError(0, 'network'));
      const form = new FormData();
      form.append('file', file);
      xhr.send(form);
    });
  }

  /**
   * Files are never servable without the Bearer header, so <img src> cannot point at them: fetch, then show an
   * object URL. Cached per (file, variant) for the life of the client.
   * @param {string} fileId
   * @param {boolean} [thumbnail]
   * @returns {Promise<string>}
   */
  fileUrl(fileId, thumbnail = false) {
    const key = `${fileId}:${thumbnail ? 't' : 'f'}`;
    let promise = this.#blobUrls.get(key);
    if (!promise) {
      promise = (async () => {
        const token = await this.accessToken();
        const response = await fetch(this.url(`/api/files/${encodeURIComponent(fileId)}${thumbnail ? '/thumbnail' : ''}`), { headers: { Authorization: `Bearer ${token}` }, credentials: 'omit' });
        if (!response.ok) throw new ApiError(response.status, (await readProblem(response)).code);
        return URL.createObjectURL(await response.blob());
      })();
      promise.catch(() => this.#blobUrls.delete(key));
      this.#blobUrls.set(key, promise);
    }
    return promise;
  }
}

/** @param {string} jwt @param {string} claim @returns {string | undefined} */
function jwtClaim(jwt, claim) {
  try {
    const value = JSON.parse(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')))[claim];
    return value == null ? undefined : String(value);
  } catch {
    return undefined;
  }
}

// ---- the default client: this origin, the session in localStorage (the web client) ----

/** The client the module-level functions use. */
export const defaultApi = new Api();

/** @returns {Session | null} */
export function loadSession() { return defaultApi.session; }

/** @type {((code?: string) => void) | null} */
let signedOutHandler = null;
/**
 * Called when the default client's session is gone for good (logout here or elsewhere, reuse, revocation).
 * @param {(code?: string) => void} handler
 */
export function setSignedOutHandler(handler) {
  if (!signedOutHandler) defaultApi.addEventListener('signedout', (e) => signedOutHandler?.(/** @type {CustomEvent} */ (e).detail));
  signedOutHandler = handler;
}

export const accessToken = () => defaultApi.accessToken(false);

/**
 * @param {string} method @param {string} path @param {unknown} [body] @param {{auth?: boolean}} [options]
 * @returns {Promise<any>}
 */
export const api = (method, path, body, options) => defaultApi.call(method, path, body, options);
/** @param {string} path */
export const all = (path) => defaultApi.all(path);
/** @param {string} username @param {string} password @param {string} [nickname] */
export const register = (username, password, nickname) => defaultApi.register(username, password, nickname);
/** @param {string} username @param {string} password */
export const login = (username, password) => defaultApi.login(username, password);
export const logout = () => defaultApi.logout();
/** @param {Blob} file @param {(fraction: number) => void} [onProgress] */
export const upload = (file, onProgress) => defaultApi.upload(file, onProgress);
/** @param {string} fileId @param {boolean} [thumbnail] */
export const fileUrl = (fileId, thumbnail) => defaultApi.fileUrl(fileId, thumbnail);
