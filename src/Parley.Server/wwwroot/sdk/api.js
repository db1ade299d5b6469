// HTTP side of the public contract: the session in localStorage, Bearer calls, token refresh before expiry
// (coordinated across tabs), uploads with progress, and authenticated file bytes as object URLs.

const KEY = 'parley.session';
const REFRESH_MARGIN_MS = 60_000;

/** An HTTP error with the contract's `code` and a sentence a person can read. */
export class ApiError extends Error {
  constructor(status, code, detail) {
    super(plainWords(code, detail, status));
    this.status = status;
    this.code = code;
  }
}

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

export function plainWords(code, detail, status) {
  if (code === 'invalid') return detail ? `Please check your input: ${detail}` : 'Please check your input.';
  return WORDS[code] ?? detail ?? `Something went wrong (${status ?? code}).`;
}

export function loadSession() {
  try { return JSON.parse(localStorage.getItem(KEY)); } catch { return null; }
}

function saveSession(session) {
  if (session) localStorage.setItem(KEY, JSON.stringify(session));
  else localStorage.removeItem(KEY);
}

/** Called when the session is gone for good (logout here or elsewhere, reuse, revocation). */
let onSignedOut = () => {};
export function setSignedOutHandler(handler) { onSignedOut = handler; }

// Refresh tokens are single use and every tab shares them: one tab at a time refreshes (Web Locks). The pair a
// refresh returns is also written to IndexedDB, whose committed writes every tab reads at once; localStorage is
// not enough there, since Chromium hands other tabs its changes asynchronously, and a tab that read the spent
// refresh token from a stale copy would present it again and the server would end the session (token_reused).
async function freshAccessToken(force = false) {
  const run = async () => {
    let session = loadSession();
    if (!session) throw new ApiError(401, 'unauthorized');
    const shared = await sharedTokens(session.deviceId);
    if (shared && shared.accessTokenExpiresAt > session.tokens.accessTokenExpiresAt) {
      session = { ...session, tokens: shared }; // another tab refreshed
      saveSession(session);
    }
    const left = session.tokens.accessTokenExpiresAt - Date.now();
    if (!force && left > REFRESH_MARGIN_MS) return session.tokens.accessToken;
    const response = await fetch('/api/auth/refresh', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refreshToken: session.tokens.refreshToken }),
    });
    if (!response.ok) {
      const problem = await readProblem(response);
      if (response.status === 401) { saveSession(null); onSignedOut(problem.code); }
      throw new ApiError(response.status, problem.code, problem.detail);
    }
    const { tokens } = await response.json();
    await shareTokens(session.deviceId, tokens);
    saveSession({ ...session, tokens });
    return tokens.accessToken;
  };
  return navigator.locks ? navigator.locks.request('parley.refresh', run) : run();
}

/** IndexedDB `parley` / `tokens`, keyed by device session: the newest pair any tab got. */
function tokenDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open('parley', 1);
    request.onupgradeneeded = () => request.result.createObjectStore('tokens');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

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

async function shareTokens(deviceId, tokens) {
  if (!globalThis.indexedDB || !deviceId) return;
  try {
    const db = await tokenDb();
    try {
      await new Promise((resolve, reject) => {
        const tx = db.transaction('tokens', 'readwrite');
        tx.objectStore('tokens').put(tokens, deviceId);
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  } catch {
    // localStorage still has them
  }
}

export const accessToken = () => freshAccessToken(false);

async function readProblem(response) {
  try {
    const body = await response.json();
    return { code: body.code ?? String(response.status), detail: body.detail ?? body.title };
  } catch {
    return { code: String(response.status), detail: response.statusText };
  }
}

/** A JSON call. `auth: false` for register/login. Retries once with a forced refresh on token_expired. */
export async function api(method, path, body, { auth = true } = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth) headers.Authorization = `Bearer ${await freshAccessToken(attempt > 0)}`;
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
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
    if (auth && response.status === 401) { saveSession(null); onSignedOut(problem.code); }
    throw new ApiError(response.status, problem.code, problem.detail);
  }
}

export async function register(username, password, nickname) {
  const result = await api('POST', '/api/auth/register', { username, password, nickname: nickname || undefined, device: deviceName() }, { auth: false });
  saveSession(result);
  return result;
}

export async function login(username, password) {
  const result = await api('POST', '/api/auth/login', { username, password, device: deviceName() }, { auth: false });
  saveSession(result);
  return result;
}

export async function logout() {
  const session = loadSession();
  saveSession(null);
  if (session) {
    await fetch('/api/auth/logout', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refreshToken: session.tokens.refreshToken }),
    }).catch(() => {});
  }
}

const deviceName = () => `Web (${navigator.platform || 'browser'})`.slice(0, 64);

/** POST /api/files with progress (fetch has no upload progress, XMLHttpRequest does). */
export async function upload(file, onProgress) {
  const token = await accessToken();
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/files');
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

// Files are never servable without the Bearer header, so <img src> cannot point at them: fetch, then show
// an object URL. Cached per (file, variant) for the life of the page.
const blobUrls = new Map();
export function fileUrl(fileId, thumbnail = false) {
  const key = `${fileId}:${thumbnail ? 't' : 'f'}`;
  if (!blobUrls.has(key)) {
    const promise = (async () => {
      const token = await accessToken();
      const response = await fetch(`/api/files/${encodeURIComponent(fileId)}${thumbnail ? '/thumbnail' : ''}`, { headers: { Authorization: `Bearer ${token}` } });
      if (!response.ok) throw new ApiError(response.status, (await readProblem(response)).code);
      return URL.createObjectURL(await response.blob());
    })();
    promise.catch(() => blobUrls.delete(key));
    blobUrls.set(key, promise);
  }
  return blobUrls.get(key);
}

/** Every page of a list endpoint. */
export async function all(path) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api('GET', `${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}
