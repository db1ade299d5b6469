// Parley's admin page (/admin): the app-server API (/api/admin/*) with an X-Api-Key that lives in sessionStorage
// only (gone when the tab closes; never in localStorage, a cookie or a URL). Text is always set as text.
import { h, toast } from '/ui/dom.js';

const KEY = 'parley.admin.key';
const root = document.getElementById('admin');
let section = 'users';

class AdminError extends Error {
  constructor(status, code, detail) { super(detail || `Request failed (${status})`); this.status = status; this.code = code; }
}

async function call(method, path, body) {
  const key = sessionStorage.getItem(KEY);
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: { 'X-Api-Key': key ?? '', ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new AdminError(0, 'network', 'Cannot reach the server.');
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!res.ok) throw new AdminError(res.status, json?.code ?? 'error', json?.detail);
  return json;
}

function fail(e) {
  if (e.status === 401) {
    sessionStorage.removeItem(KEY);
    showLogin('That key was not accepted.');
    return;
  }
  toast(e.message);
}

function showLogin(message) {
  const input = h('input', { id: 'api-key', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const form = h('form', { class: 'card', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Parley admin'),
    h('p', {}, 'Enter an API key of the setting Admin:ApiKeys. It is kept in this tab only.'),
    message ? h('p', { class: 'error', role: 'alert' }, message) : null,
    h('label', { for: 'api-key' }, 'API key'), ' ', input, ' ',
    h('button', { class: 'primary', type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, input.value.trim());
    try {
      await call('GET', '/api/admin/stats');
      showShell();
    } catch (e) {
      sessionStorage.removeItem(KEY);
      showLogin(e.status === 404 ? 'The admin API is switched off on this server (no Admin:ApiKeys).' : e.status === 401 ? 'That key was not accepted.' : e.message);
    }
  });
  root.replaceChildren(form);
  input.focus();
}

const SECTIONS = [['users', 'Users'], ['reports', 'Reports'], ['stats', 'Stats'], ['webhooks', 'Failed webhooks']];

function showShell() {
  const nav = h('nav', { 'aria-label': 'Admin sections' }, SECTIONS.map(([id, label]) =>
    h('button', { type: 'button', 'aria-current': id === section ? 'page' : null, onclick: () => { section = id; showShell(); } }, label)));
  const signOut = h('button', { type: 'button', onclick: () => { sessionStorage.removeItem(KEY); showLogin(); } }, 'Sign out');
  const body = h('section', { id: 'section', 'aria-live': 'polite' }, h('p', { class: 'loading' }, 'Loading…'));
  root.replaceChildren(h('header', {}, h('h1', {}, 'Parley admin'), nav, signOut), body);
  ({ users: showUsers, reports: showReports, stats: showStats, webhooks: showWebhooks })[section](body).catch(fail);
}

const when = (ms) => (ms ? new Date(ms).toLocaleString() : '');

async function showUsers(body, q = '') {
  const input = h('input', { id: 'user-q', type: 'search', value: q, 'aria-label': 'Search users' });
  const external = h('input', { id: 'user-external', type: 'search', placeholder: 'externalId', 'aria-label': 'External id' });
  const form = h('form', { class: 'search', role: 'search' }, input, external, h('button', { type: 'submit' }, 'Search'));
  const table = h('tbody');
  form.addEventListener('submit', (event) => { event.preventDefault(); load().catch(fail); });
  body.replaceChildren(h('h2', {}, 'Users'), form,
    h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Username'), h('th', {}, 'Nickname'), h('th', {}, 'External id'), h('th', {}, 'State'), h('th', {}, 'Actions'))), table));

  async function load() {
    const params = new URLSearchParams({ limit: '50' });
    if (input.value.trim()) params.set('q', input.value.trim());
    if (external.value.trim()) params.set('externalId', external.value.trim());
    const page = await call('GET', `/api/admin/users?${params}`);
    table.replaceChildren(...(page.items.length ? page.items.map(row) : [h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No users found.'))]));
  }

  function row(user) {
    const act = (label, path, done, cls) => h('button', {
      type: 'button', class: cls,
      onclick: async () => {
        try { await call('POST', `/api/admin/users/${user.id}/${path}`); toast(done(user), 'notice'); await load(); } catch (e) { fail(e); }
      },
    }, label);
    return h('tr', { 'data-user': user.username },
      h('td', {}, user.username), h('td', {}, user.nickname), h('td', {}, user.externalId ?? ''),
      h('td', {}, user.disabled ? h('span', { class: 'tag-disabled' }, 'Disabled') : 'Active'),
      h('td', { class: 'actions' },
        user.disabled
          ? act('Enable', 'enable', (u) => `${u.username} enabled.`)
          : act('Disable', 'disable', (u) => `${u.username} disabled and logged out.`, 'danger'),
        ' ', act('Log out', 'logout', (u) => `${u.username} logged out everywhere.`)));
  }

  await load();
}

async function showReports(body) {
  const list = h('tbody');
  const state = h('select', { id: 'report-state', 'aria-label': 'Which reports' }, h('option', { value: 'open' }, 'Open'), h('option', { value: 'resolved' }, 'Resolved'), h('option', { value: 'all' }, 'All'));
  state.addEventListener('change', () => load().catch(fail));
  body.replaceChildren(h('h2', {}, 'Reports'), h('p', {}, state),
    h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Reported'), h('th', {}, 'Message'), h('th', {}, 'Reason'), h('th', {}, 'Reporter / sender'), h('th', {}, 'State'))), list));

  async function load() {
    const page = await call('GET', `/api/admin/reports?status=${state.value}&limit=100`);
    list.replaceChildren(...(page.items.length ? page.items.map(row) : [h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No reports.'))]));
  }

  function row(r) {
    const content = r.content == null ? '(recalled)' : r.messageType === 'text' ? r.content.text : JSON.stringify(r.content);
    const resolve = h('button', {
      type: 'button',
      onclick: async () => {
        try { await call('POST', `/api/admin/reports/${r.id}/resolve`, {}); toast('Report resolved.', 'notice'); await load(); } catch (e) { fail(e); }
      },
    }, 'Resolve');
    return h('tr', { 'data-report': r.id },
      h('td', {}, when(r.createdAt)), h('td', {}, h('pre', {}, content)), h('td', {}, r.reason),
      h('td', {}, `${r.reporterId} / ${r.senderId}`),
      h('td', { class: 'actions' }, r.status === 'open' ? resolve : `Resolved ${when(r.resolvedAt)}`));
  }

  await load();
}

async function showStats(body) {
  const s = await call('GET', '/api/admin/stats');
  const stat = (label, value) => h('div', { class: 'stat' }, h('strong', {}, String(value)), label);
  body.replaceChildren(h('h2', {}, 'Stats'), h('div', { class: 'stats' },
    stat('users', s.users), stat('online users (this node)', s.onlineUsers), stat('connections (this node)', s.connections),
    stat('groups', s.groups), stat('messages in the last 24 h', s.messagesLast24h)),
  h('p', {}, h('button', { type: 'button', onclick: () => showStats(body).catch(fail) }, 'Refresh')));
}

async function showWebhooks(body) {
  body.replaceChildren(h('h2', {}, 'Failed webhooks'), h('p', { class: 'loading' }, 'Loading…'));
  let page;
  try {
    page = await call('GET', '/api/admin/webhooks/failed?limit=100');
  } catch (e) {
    if (e.status !== 404) throw e;
    body.replaceChildren(h('h2', {}, 'Failed webhooks'), h('p', { class: 'empty' }, 'Webhooks are not available on this server.'));
    return;
  }
  const items = page?.items ?? [];
  body.replaceChildren(h('h2', {}, 'Failed webhooks'), items.length
    ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Event'), h('th', {}, 'Type'), h('th', {}, 'Created'), h('th', {}, 'Last error'))),
      h('tbody', {}, items.map((w) => h('tr', {}, h('td', {}, w.id ?? ''), h('td', {}, w.type ?? ''), h('td', {}, when(w.createdAt)), h('td', {}, w.lastError ?? '')))))
    : h('p', { class: 'empty' }, 'No failed webhook deliveries.'));
}

if (sessionStorage.getItem(KEY)) showShell(); else showLogin();
