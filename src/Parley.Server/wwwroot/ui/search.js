// Message search (docs/search.md): a box over all conversations (in the sidebar) and one within a conversation
// (its header); results newest first, paged by "More results"; a result opens the conversation at that message
// (#/chats/<id>/<seq>). Routes: #/search/<q> and #/search/<q>/<conversationId>.

import { api } from '../sdk/api.js';
import { h, attempt, time, displayName } from './dom.js';

/** The route of a search (q encoded, so it holds no '/'). */
export function searchHash(q, conversationId) {
  return `#/search/${encodeURIComponent(q)}${conversationId ? `/${conversationId}` : ''}`;
}

/** A search form; submitting it goes to the results. */
export function searchForm({ conversationId, label, value = '', id = conversationId ? 'search-here' : 'search-all' }) {
  const input = h('input', { type: 'search', id, name: 'q', required: true, minLength: 2, maxLength: 256, value, placeholder: label, autocomplete: 'off' });
  // Each search landmark has a name of its own (several can be on screen at once).
  const form = h('form', { role: 'search', class: `search${conversationId ? ' here' : ''}`, 'aria-label': id === 'search-page' ? 'Refine search' : conversationId ? 'Conversation search' : 'Message search' },
    h('label', { for: id, class: 'sr-only' }, label),
    input,
    // "Find", not "Search": the friends and groups pages have their own Search buttons beside this form.
    h('button', { type: 'submit', 'aria-label': conversationId ? 'Find in this conversation' : id === 'search-page' ? 'Find again' : 'Find messages' }, 'Find'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = input.value;
    if ([...q].length < 2 || !q.trim()) { input.setCustomValidity('Type at least 2 characters.'); input.reportValidity(); return; }
    input.setCustomValidity('');
    location.hash = searchHash(q, conversationId);
  });
  input.addEventListener('input', () => input.setCustomValidity(''));
  return form;
}

export function renderSearch(pane, ctx, q, conversationId, back) {
  const { store } = ctx;
  const scope = conversationId ? store.conversations.get(conversationId) : null;
  const heading = h('h1', { id: 'search-title' }, conversationId ? `Search in ${conversationName(ctx, scope)}` : 'Search messages');
  const list = h('ol', { class: 'results', 'aria-labelledby': 'search-title' });
  const status = h('p', { class: 'search-status', role: 'status' }, 'Searching…');
  const more = h('button', { type: 'button', class: 'more', hidden: true }, 'More results');
  let cursor = null;
  let count = 0;

  async function page() {
    const params = new URLSearchParams({ q, limit: '20' });
    if (conversationId) params.set('conversationId', conversationId);
    if (cursor) params.set('cursor', cursor);
    const result = await api('GET', `/api/search/messages?${params}`);
    for (const m of result.items) list.append(resultRow(m));
    count += result.items.length;
    cursor = result.nextCursor;
    more.hidden = !cursor;
    status.textContent = count === 0 ? `No messages match “${q}”.` : `${count}${cursor ? '+' : ''} message${count === 1 ? '' : 's'} match “${q}”.`;
  }

  function resultRow(m) {
    const c = store.conversations.get(m.conversationId);
    const sender = h('span', { class: 'sender' }, m.senderId === ctx.me.id ? 'You' : '…');
    if (m.senderId !== ctx.me.id) store.user(m.senderId).then((u) => { sender.textContent = displayName(u); }, () => { sender.textContent = 'Someone'; });
    return h('li', { class: 'result', 'data-conversation': m.conversationId, 'data-seq': m.seq },
      h('a', { href: `#/chats/${m.conversationId}/${m.seq}`, class: 'result-link' },
        h('span', { class: 'meta' }, conversationId ? null : h('span', { class: 'result-conv' }, conversationName(ctx, c), ' · '), sender, ' · ',
          h('time', { datetime: new Date(m.sentAt).toISOString() }, time(m.sentAt))),
        h('span', { class: 'result-text' }, highlight(textOf(m), q))));
  }

  more.addEventListener('click', () => attempt(page));
  pane.replaceChildren(h('section', { class: 'page search-page', 'aria-labelledby': 'search-title' },
    back, heading, searchForm({ conversationId, id: 'search-page', label: conversationId ? 'Search in this conversation' : 'Search again', value: q }), status, list, more));
  pane.refresh = null;
  attempt(page);
}

function conversationName(ctx, c) {
  if (!c) return 'a conversation';
  return c.type === 'direct' ? displayName(c.peer, ctx.store.friends.find((f) => f.user.id === c.peer?.id)?.remark) : c.group?.name ?? 'a group';
}

function textOf(m) {
  switch (m.type) {
    case 'text': return m.content.text;
    case 'file': return `📄 ${m.content.name}`;
    case 'link': return [m.content.title, m.content.description, m.content.url].filter(Boolean).join(' · ');
    case 'location': return `📍 ${m.content.title ?? ''}`;
    default: return `[${m.type}]`;
  }
}

/** The text around the first match with the match in <mark> (case-insensitive, as the server matches; text nodes only). */
function highlight(text, q) {
  const at = text.toLowerCase().indexOf(q.toLowerCase());
  if (at < 0) return text.length > 160 ? `${text.slice(0, 160)}…` : text;
  const start = Math.max(0, at - 60);
  const end = Math.min(text.length, at + q.length + 80);
  return [start > 0 ? '…' : '', text.slice(start, at), h('mark', {}, text.slice(at, at + q.length)), text.slice(at + q.length, end), end < text.length ? '…' : ''];
}
