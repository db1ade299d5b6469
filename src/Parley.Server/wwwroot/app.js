// Parley web client: wires the session, the socket and the store to the screens. Routes are hash based:
// #/chats, #/chats/<conversationId>, #/chats/<conversationId>/<seq> (opened at that message), #/friends, #/groups,
// #/groups/<groupId>, #/profile, #/search/<q>, #/search/<q>/<conversationId> and #/join/<inviteCode>.

import { api, loadSession, login, register, logout, setSignedOutHandler } from './sdk/api.js';
import { Socket } from './sdk/socket.js';
import { Store } from './sdk/store.js';
import { h, toast, attempt, field, time, displayName, presenceDot, summary, setScreen } from './ui/dom.js';
import { renderChat } from './ui/chat.js';
import { renderFriends } from './ui/friends.js';
import { renderGroups, renderGroup } from './ui/groups.js';
import { renderProfile } from './ui/profile.js';
import { renderSearch, searchForm } from './ui/search.js';
import { expireMutes, stopMuteTimer } from './ui/mute.js';
import { conversationAvatar, userAvatar } from './ui/avatar.js';
import { showUnread, clearUnread } from './ui/badge.js';
import { notifyMessage } from './ui/notify.js';
import { renderJoin } from './ui/groups.js';
import { Calls } from './ui/calls.js';

const app = document.getElementById('app');
let ctx = null; // {me, socket, store} while signed in

setSignedOutHandler((code) => {
  if (!ctx) return;
  stop();
  showAuth();
  if (code === 'token_reused') toast('Your session was ended (it was used elsewhere). Please log in again.');
});

// Another tab logged out or in: follow it.
window.addEventListener('storage', (e) => {
  if (e.key !== 'parley.session') return;
  if (!e.newValue && ctx) { stop(); showAuth(); }
  else if (e.newValue && !ctx) start();
});

function stop() {
  stopMuteTimer();
  clearUnread();
  ctx?.calls?.stop();
  ctx?.socket.stop();
  ctx = null;
  window.parley = undefined;
}

function showAuth(mode = 'login') {
  setScreen(`auth/${mode}`);
  const registering = mode === 'register';
  const form = h('form', { class: 'card auth', 'aria-labelledby': 'auth-title' },
    h('h1', { id: 'auth-title' }, registering ? 'Create your Parley account' : 'Log in to Parley'),
    field('Username', { name: 'username', autocomplete: 'username', required: true, minLength: 3, maxLength: 32, pattern: '[A-Za-z0-9_.\\-]+' }),
    field('Password', { name: 'password', type: 'password', autocomplete: registering ? 'new-password' : 'current-password', required: true, minLength: 8, maxLength: 128 }),
    registering ? field('Nickname (optional)', { name: 'nickname', maxLength: 64 }) : null,
    h('button', { type: 'submit', class: 'primary' }, registering ? 'Create account' : 'Log in'),
    registering ? null : h('p', {}, h('button', { type: 'button', class: 'link', onclick: () => showReset() }, 'Forgot password?')),
    h('p', {}, registering ? 'Have an account? ' : 'New here? ',
      h('button', { type: 'button', class: 'link', onclick: () => showAuth(registering ? 'login' : 'register') },
        registering ? 'Log in' : 'Create an account')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const ok = await attempt(() => registering
      ? register(data.get('username'), data.get('password'), data.get('nickname'))
      : login(data.get('username'), data.get('password')));
    if (ok) start();
  });
  app.replaceChildren(h('main', { id: 'pane', class: 'auth-screen' }, form));
  form.querySelector('input').focus();
}

// Password reset by mail (docs/email.md): ask for a code, then enter it with a new password. The server answers the
// same whether or not the address belongs to an account, and so does this screen.
function showReset() {
  setScreen('auth/reset');
  const ask = h('form', { class: 'card auth', 'aria-labelledby': 'reset-title' },
    h('h1', { id: 'reset-title' }, 'Reset your password'),
    h('p', {}, 'Enter the verified email address of your account. We will mail you a 6-digit code.'),
    field('Email address', { name: 'email', type: 'email', autocomplete: 'email', required: true, maxLength: 254 }),
    h('button', { type: 'submit', class: 'primary' }, 'Send code'),
    h('p', {}, h('button', { type: 'button', class: 'link', onclick: () => showAuth('login') }, 'Back to log in')));
  const confirm = h('form', { class: 'card auth', 'aria-labelledby': 'reset-code-title', hidden: true },
    h('h2', { id: 'reset-code-title' }, 'Enter the code'),
    h('p', { role: 'status', id: 'reset-sent' }),
    field('Code', { name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true, pattern: '[0-9]{6}', maxLength: 6 }),
    field('New password', { name: 'newPassword', type: 'password', autocomplete: 'new-password', required: true, minLength: 8, maxLength: 128 }),
    h('button', { type: 'submit', class: 'primary' }, 'Set new password'));
  let email = '';
  ask.addEventListener('submit', async (e) => {
    e.preventDefault();
    email = new FormData(ask).get('email').trim();
    const sent = await attempt(async () => {
      try { await api('POST', '/api/auth/password-reset', { email }, { auth: false }); } catch (error) {
        if (error.status === 404) throw new Error('Password reset by email is not available on this server.');
        throw error;
      }
      return true;
    });
    if (!sent) return;
    confirm.hidden = false;
    confirm.querySelector('#reset-sent').textContent = `If ${email} is the verified address of an account, a code is on its way. Asked again within 15 minutes, use the code mailed first: it stays valid.`;
    confirm.querySelector('input').focus();
  });
  confirm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const d = new FormData(confirm);
    const done = await attempt(() => api('POST', '/api/auth/password-reset/confirm', { email, code: d.get('code').trim(), newPassword: d.get('newPassword') }, { auth: false }));
    if (done === undefined) return;
    showAuth('login');
    toast('Your password was changed. Log in with the new one.', 'notice');
  });
  app.replaceChildren(h('main', { id: 'pane', class: 'auth-screen' }, ask, confirm));
  ask.querySelector('input').focus();
}

async function start() {
  const session = loadSession();
  if (!session) { showAuth(); return; }
  setScreen(routeKey(parseRoute()));
  const socket = new Socket();
  // Last seen (userId -> ms, from presence frames) is noted before the store applies the frame: the store's
  // 'change' redraws the chat header and the friends, which read it (noted after, a header said "offline" for good).
  const lastSeen = new Map();
  socket.addEventListener('frame', ({ detail: frame }) => {
    if (frame.type !== 'presence') return;
    if (frame.online) lastSeen.delete(frame.userId);
    else if (frame.lastSeenAt) lastSeen.set(frame.userId, frame.lastSeenAt);
  });
  const store = new Store(session.user, socket);
  ctx = { me: session.user, socket, store, lastSeen, onMeChanged: () => showMyAvatar() };
  ctx.calls = new Calls(ctx);
  window.parley = { store, socket, calls: ctx.calls }; // for the console and the browser tests
  socket.addEventListener('frame', (e) => onFrame(e.detail));
  store.addEventListener('error', (e) => attempt(() => Promise.reject(e.detail))); // the store catches up on every (re)connect itself
  socket.addEventListener('revoked', () => { if (ctx?.socket !== socket) return; logout(); stop(); showAuth(); toast('You were signed out.'); });
  socket.addEventListener('status', () => renderStatus());
  store.addEventListener('change', (e) => onChange(e.detail.conversationId));
  document.addEventListener('visibilitychange', () => ctx?.store.markRead());
  currentRoute = ''; // nothing of this session is on screen yet (after a logout the hash may still be the old one)
  renderShell();
  socket.start();
  await attempt(() => Promise.all([store.catchUp(), store.loadFriends()]));
  if (ctx?.store !== store) return;
  // The conversation list shows as soon as a catch-up has it (the socket's own, on connect, may come first), so the
  // reader can open a chat before the friends have loaded: that screen is up already and is not built a second
  // time (a rebuilt chat lost what was typed, clicked or focused in the first).
  if (currentRoute !== routeKey(parseRoute())) route();
  expireMutes(ctx);
}

function onFrame(frame) {
  const { store } = ctx; // the store has applied the frame already (it listens to the socket itself)
  ctx.calls.onFrame(frame);
  // Refusals of call frames sent without waiting (ref "call:...") are the call view's to say.
  if (frame.type === 'error' && String(frame.ref ?? '').startsWith('call:')) { ctx.calls.onError(frame); return; }
  if (frame.type === 'message') notifyMessage(ctx, frame.message).catch(() => {}); // a nicety: never an error
  if (frame.type === 'notify') {
    const d = frame.data;
    switch (frame.kind) {
      case 'friend.request': toast(`${displayName(d.from)} wants to be your friend.`, 'notice'); break;
      case 'friend.accepted': toast(`You and ${displayName(d.fromUserId === ctx.me.id ? d.to : d.from)} are now friends.`, 'notice'); break;
      case 'group.removed': if (d.userId === ctx.me.id) toast('You were removed from a group.', 'notice'); break;
      case 'group.dissolved': toast('A group you were in was dissolved.', 'notice'); break;
    }
    attempt(() => Promise.all([store.loadFriends(), store.catchUp()])).then(() => refreshPane(frame.kind));
  }
  if (frame.type === 'error') toast(frame.message);
}

// ---- shell ----
function renderShell() {
  const nav = h('nav', { 'aria-label': 'Sections' },
    ...[['chats', 'Chats'], ['friends', 'Friends'], ['groups', 'Groups'], ['profile', 'Profile']].map(([id, label]) =>
      h('a', { href: `#/${id}`, id: `nav-${id}` }, id === 'profile' ? h('span', { id: 'me-avatar' }) : null, label)),
    h('button', { type: 'button', class: 'link', onclick: async () => { forgetDrafts(); await logout(); stop(); showAuth(); } }, 'Log out'));
  app.replaceChildren(
    h('header', { class: 'top' }, h('span', { class: 'brand' }, 'Parley'), h('span', { id: 'conn', role: 'status' }), nav),
    // One main landmark holds both columns: on a phone only one of them shows, and either is the main content.
    h('main', { class: 'layout', id: 'layout' },
      h('nav', { id: 'sidebar', 'aria-labelledby': 'convs-title' }, searchForm({ label: 'Search all messages' }), h('h1', { class: 'sr-only', id: 'convs-title' }, 'Conversations'), h('ul', { id: 'convs', class: 'convs' })),
      h('div', { id: 'pane', tabindex: '-1' })));
  renderStatus();
}

function renderStatus() {
  const el = document.getElementById('conn');
  if (!el || !ctx) return;
  const s = ctx.socket.status;
  el.textContent = s === 'online' ? 'Connected' : s === 'connecting' ? 'Connecting…' : 'Offline, reconnecting…';
  el.className = `conn ${s}`;
}

function renderConversationList() {
  const { store } = ctx;
  const list = document.getElementById('convs');
  if (!list) return;
  const items = store.sortedConversations().map((c) => {
    const name = c.type === 'direct' ? displayName(c.peer, store.friends.find((f) => f.user.id === c.peer?.id)?.remark) : c.group?.name;
    const current = c.id === store.openId;
    return h('li', {},
      h('a', { href: `#/chats/${c.id}`, class: `conv${current ? ' current' : ''}`, 'aria-current': current ? 'page' : undefined, 'data-conversation': c.id },
        conversationAvatar(c, 'm', name),
        h('span', { class: 'conv-name' }, c.type === 'direct' ? presenceDot(store.presence.get(c.peer?.id)) : h('span', { class: 'group-mark', 'aria-hidden': 'true' }, '#'), name),
        h('span', { class: 'conv-time' }, c.lastMessage ? time(c.lastMessage.sentAt) : ''),
        h('span', { class: 'conv-last' }, summary(c.lastMessage, ctx.me.id)),
        c.mentioned ? h('span', { class: 'mention', 'aria-label': 'You were mentioned' }, '@') : null,
        c.muted ? h('span', { class: 'muted-mark', role: 'img', 'aria-label': 'Muted', title: 'Muted' }, '🔕') : null,
        c.unreadCount > 0 ? h('span', { class: `badge${c.muted ? ' quiet' : ''}`, 'aria-label': `${c.unreadCount} unread` }, String(c.unreadCount)) : null));
  });
  list.replaceChildren(...(items.length ? items : [h('li', { class: 'empty' }, 'No conversations yet. ',
    h('a', { href: '#/friends' }, 'Find people'), ' to chat with, or ', h('a', { href: '#/groups' }, 'start or join a group'), '.')]));
  showUnread(store.sortedConversations().reduce((n, c) => n + (c.muted ? 0 : c.unreadCount ?? 0), 0));
}

// ---- routing ----
let currentRoute = '';
/** The hash as [section, id, extra]; no hash (or `#`, `#/`) is the chat list. */
function parseRoute() {
  const [section, id, extra] = location.hash.replace(/^#\/?/, '').split('/');
  return [section || 'chats', id || undefined, extra];
}
const routeKey = ([section, id]) => `${section}/${id ?? ''}`;

function route() {
  if (!ctx) return;
  const [section, id, extra] = parseRoute();
  currentRoute = routeKey([section, id]);
  setScreen(currentRoute);
  const pane = document.getElementById('pane');
  const layout = document.getElementById('layout');
  showMyAvatar();
  for (const a of document.querySelectorAll('nav a')) { if (a.id === `nav-${section}`) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current'); }
  layout.dataset.view = section === 'chats' && !id ? 'list' : 'pane';
  if (section !== 'chats' || !id) ctx.store.openId = null;
  const back = h('a', { href: '#/chats', class: 'back' }, '← Chats');
  switch (section) {
    case 'friends': renderFriends(pane, ctx, back); break;
    case 'groups': id ? renderGroup(pane, ctx, id, back) : renderGroups(pane, ctx, back); break;
    case 'profile': renderProfile(pane, ctx, back); break;
    case 'search': renderSearch(pane, ctx, safeDecode(id ?? ''), extra, back); break;
    case 'join': renderJoin(pane, ctx, safeDecode(id ?? ''), back); break;
    default:
      if (id) renderChat(pane, ctx, id, back, /^\d+$/.test(extra ?? '') ? Number(extra) : null);
      else pane.replaceChildren(h('div', { class: 'placeholder' }, h('h1', {}, `Hello, ${displayName(ctx.me)}`),
        ctx.store.conversations.size
          ? h('p', {}, 'Pick a conversation on the left to read and reply.')
          : h('p', {}, 'Nothing here yet: ', h('a', { href: '#/friends' }, 'find people'), ' by name or tag and message them once they accept, or ', h('a', { href: '#/groups' }, 'start or join a group'), '. Have an invite code? Enter it on the Groups page.')));
  }
  renderConversationList();
}

// One's own avatar beside "Profile", rebuilt when it changes (a saved profile updates ctx.me).
let myAvatarSig = null;
function showMyAvatar() {
  const slot = document.getElementById('me-avatar');
  const sig = `${ctx.me.avatarFileId}|${ctx.me.nickname}`;
  if (!slot || (sig === myAvatarSig && slot.firstChild)) return;
  myAvatarSig = sig;
  slot.replaceChildren(userAvatar(ctx.me, 's'));
}

/** Drafts are this person's: they go with an explicit logout (a shared computer keeps none). */
function forgetDrafts() {
  const prefix = `parley.draft.${ctx?.me.id}.`;
  for (const k of Object.keys(localStorage)) if (k.startsWith(prefix)) localStorage.removeItem(k);
}

function safeDecode(text) {
  try { return decodeURIComponent(text); } catch { return ''; }
}

function refreshPane(kind) {
  if (currentRoute.startsWith('friends') && kind.startsWith('friend')) route();
  if (currentRoute.startsWith('groups') && kind.startsWith('group')) route();
}

function onChange(conversationId) {
  renderConversationList();
  const pane = document.getElementById('pane');
  if (pane?.refresh && (!conversationId || conversationId === ctx.store.openId)) pane.refresh();
}

// Routes are hashes, so the skip link focuses the content instead of following its href.
document.querySelector('.skip')?.addEventListener('click', (e) => { e.preventDefault(); document.getElementById('pane')?.focus(); });
// A file dropped outside a chat is ignored (the browser would otherwise leave the app to show it).
for (const type of ['dragover', 'drop']) {
  window.addEventListener(type, (e) => { if ([...(e.dataTransfer?.types ?? [])].includes('Files') && !e.defaultPrevented) e.preventDefault(); });
}
window.addEventListener('hashchange', route);
start();
