// Friends: search people by name or tag, requests (accept / decline), remarks, block, start a chat.

import { api, all } from '../sdk/api.js';
import { h, toast, attempt, field, displayName, presenceDot, lastSeenWords } from './dom.js';
import { userAvatar } from './avatar.js';

export async function renderFriends(pane, ctx, back) {
  const { store } = ctx;
  pane.refresh = null;
  const results = h('ul', { class: 'list', id: 'search-results', 'aria-label': 'Search results' });
  const search = h('form', { class: 'row-form', role: 'search', 'aria-label': 'People search', onsubmit: (e) => { e.preventDefault(); attempt(find); } },
    field('Find people by name', { name: 'q', id: 'people-q' }),
    field('with tags (comma separated)', { name: 'tags', id: 'people-tags' }),
    h('button', { type: 'submit' }, 'Search'));

  async function find() {
    const data = new FormData(search);
    const q = encodeURIComponent(data.get('q').trim());
    const tags = encodeURIComponent(data.get('tags').replace(/\s+/g, ''));
    const page = await api('GET', `/api/users/search?q=${q}&tags=${tags}&limit=30`);
    const friendIds = new Set(store.friends.map((f) => f.user.id));
    results.replaceChildren(...page.items.filter((u) => u.id !== ctx.me.id).map((u) => h('li', { class: 'item' },
      h('span', { class: 'who' }, userAvatar(u), displayName(u), h('small', {}, ` @${u.username}`), u.tags.length ? h('small', {}, ` · ${u.tags.join(', ')}`) : null),
      friendIds.has(u.id) ? h('span', {}, 'Friend')
        : h('button', { type: 'button', onclick: () => attempt(async () => {
          const r = await api('POST', '/api/friends/requests', { userId: u.id });
          toast(r.status === 'accepted' ? `You and ${displayName(u)} are now friends.` : `Friend request sent to ${displayName(u)}.`, 'notice');
          if (r.status === 'accepted') { await store.loadFriends(); renderFriends(pane, ctx, back); }
        }) }, `Add ${displayName(u)}`))));
    if (!results.children.length) results.append(h('li', { class: 'empty' }, 'Nobody found.'));
  }

  const [incoming, outgoing, blocks] = await Promise.all([
    all('/api/friends/requests?direction=incoming'), all('/api/friends/requests?direction=outgoing'), all('/api/blocks'),
    store.loadFriends(),
  ]).catch((e) => { toast(e.message); return [[], [], []]; });

  const act = (fn) => () => attempt(async () => { await fn(); await store.loadFriends(); renderFriends(pane, ctx, back); });

  pane.replaceChildren(h('section', { class: 'page', 'aria-labelledby': 'friends-title' },
    back, h('h1', { id: 'friends-title' }, 'Friends'),
    search, results,
    h('h2', {}, 'Requests for you'),
    h('ul', { class: 'list', id: 'incoming' }, incoming.length ? incoming.map((r) => h('li', { class: 'item' },
      h('span', { class: 'who' }, userAvatar(r.from), displayName(r.from), r.message ? h('small', {}, ` “${r.message}”`) : null),
      h('button', { type: 'button', class: 'primary', onclick: act(() => api('POST', `/api/friends/requests/${r.id}/accept`)) }, `Accept ${displayName(r.from)}`),
      h('button', { type: 'button', onclick: act(() => api('POST', `/api/friends/requests/${r.id}/decline`)) }, 'Decline'))) : h('li', { class: 'empty' }, 'None.')),
    h('h2', {}, 'Your requests'),
    h('ul', { class: 'list' }, outgoing.length ? outgoing.map((r) => h('li', { class: 'item' }, h('span', { class: 'who' }, displayName(r.to)), h('span', {}, 'Waiting'))) : h('li', { class: 'empty' }, 'None.')),
    h('h2', {}, 'Your friends'),
    h('ul', { class: 'list', id: 'friends' }, store.friends.length ? store.friends.map((f) => friendRow(f)) : h('li', { class: 'empty' }, 'No friends yet: find people by name or tag above and add them; they appear here once they accept.')),
    h('h2', {}, 'Blocked'),
    h('ul', { class: 'list' }, blocks.length ? blocks.map((b) => {
      const u = b.user ?? b;
      return h('li', { class: 'item' }, h('span', { class: 'who' }, displayName(u)),
        h('button', { type: 'button', onclick: act(() => api('DELETE', `/api/blocks/${u.id ?? b.userId}`)) }, 'Unblock'));
    }) : h('li', { class: 'empty' }, 'Nobody.'))));

  function friendRow(f) {
    const remark = h('input', { value: f.remark ?? '', 'aria-label': `Remark for ${f.user.nickname}`, maxLength: 64 });
    return h('li', { class: 'item' },
      h('span', { class: 'who' }, userAvatar(f.user, 'm', f.remark), presenceDot(store.presence.get(f.user.id)), displayName(f.user, f.remark), f.remark ? h('small', {}, ` (${f.user.nickname})`) : null,
        !store.presence.get(f.user.id) && ctx.lastSeen?.get(f.user.id) ? h('small', { class: 'last-seen' }, ` · ${lastSeenWords(ctx.lastSeen.get(f.user.id))}`) : null),
      h('button', { type: 'button', class: 'primary', onclick: () => attempt(async () => {
        const c = await api('POST', '/api/conversations/direct', { userId: f.user.id });
        location.hash = `#/chats/${c.id}`;
      }) }, `Message ${displayName(f.user, f.remark)}`),
      h('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); act(() => api('PATCH', `/api/friends/${f.user.id}`, { remark: remark.value.trim() || null }))(); } },
        remark, h('button', { type: 'submit' }, 'Save remark')),
      h('button', { type: 'button', onclick: act(() => api('DELETE', `/api/friends/${f.user.id}`)) }, 'Remove'),
      h('button', { type: 'button', class: 'danger', onclick: act(() => api('PUT', `/api/blocks/${f.user.id}`)) }, 'Block'));
  }
}
