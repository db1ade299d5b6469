// Groups: create (with members picked among friends), search and join, join with an invite code (also the route
// #/join/<code>), my groups; a group's members with avatars and roles, mute and remove for admins, invite codes
// for admins (made and revoked here; the server lists none, so this page shows the ones made in this tab), leave.

import { api, all, upload } from '../sdk/api.js';
import { h, toast, attempt, field, displayName } from './dom.js';
import { avatar, userAvatar } from './avatar.js';

export async function renderGroups(pane, ctx, back) {
  pane.refresh = null;
  const results = h('ul', { class: 'list', id: 'group-results' });
  const create = h('form', { class: 'card', 'aria-labelledby': 'create-title', onsubmit: (e) => { e.preventDefault(); attempt(createGroup); } },
    h('h2', { id: 'create-title' }, 'Create a group'),
    field('Group name', { name: 'name', id: 'group-name', required: true, maxLength: 64 }),
    field('Description', { name: 'description', maxLength: 500 }),
    h('div', { class: 'field' }, h('label', { for: 'group-policy' }, 'Who can join'),
      h('select', { name: 'joinPolicy', id: 'group-policy' },
        h('option', { value: 'open' }, 'Anyone'), h('option', { value: 'approval' }, 'Anyone, after approval'), h('option', { value: 'invite' }, 'Invited people only'))),
    h('div', { class: 'field' }, h('label', { for: 'group-visibility' }, 'Visibility'),
      h('select', { name: 'visibility', id: 'group-visibility' }, h('option', { value: 'public' }, 'Public (found by search)'), h('option', { value: 'private' }, 'Private'))),
    memberPicker(ctx),
    h('button', { type: 'submit', class: 'primary' }, 'Create group'));
  const search = h('form', { class: 'row-form', role: 'search', 'aria-label': 'Group search', onsubmit: (e) => { e.preventDefault(); attempt(find); } },
    field('Find public groups', { name: 'q', id: 'group-q' }), h('button', { type: 'submit' }, 'Search'));

  async function createGroup() {
    const d = new FormData(create);
    const memberIds = d.getAll('memberIds');
    const g = await api('POST', '/api/groups', { name: d.get('name').trim(), description: d.get('description').trim() || undefined, joinPolicy: d.get('joinPolicy'), visibility: d.get('visibility'), memberIds: memberIds.length ? memberIds : undefined });
    await ctx.store.catchUp();
    location.hash = `#/groups/${g.id}`;
  }

  async function find() {
    const q = encodeURIComponent(new FormData(search).get('q').trim());
    const page = await api('GET', `/api/groups/search?q=${q}&limit=30`);
    results.replaceChildren(...page.items.map((g) => h('li', { class: 'item' },
      h('span', { class: 'who' }, g.name, h('small', {}, ` · ${g.memberCount} members${g.description ? ` · ${g.description}` : ''}`)),
      h('button', { type: 'button', onclick: () => attempt(async () => {
        const r = await api('POST', `/api/groups/${g.id}/join`, {});
        if (r.status === 'pending') { toast(`Asked to join ${g.name}; an admin will decide.`, 'notice'); return; }
        await ctx.store.catchUp();
        location.hash = `#/chats/${g.conversationId}`;
      }) }, `Join ${g.name}`))));
    if (!results.children.length) results.append(h('li', { class: 'empty' }, 'No groups found.'));
  }

  const byCode = h('form', { class: 'row-form', 'aria-label': 'Join with an invite code', onsubmit: (e) => { e.preventDefault(); attempt(() => joinByCode(ctx, new FormData(byCode).get('code').trim())); } },
    field('Invite code', { name: 'code', id: 'join-code', required: true, maxLength: 200, autocomplete: 'off' }), h('button', { type: 'submit' }, 'Join with code'));

  const mine = await all('/api/groups/mine').catch((e) => { toast(e.message); return []; });
  pane.replaceChildren(h('section', { class: 'page', 'aria-labelledby': 'groups-title' },
    back, h('h1', { id: 'groups-title' }, 'Groups'),
    h('h2', {}, 'Your groups'),
    h('ul', { class: 'list', id: 'my-groups' }, mine.length ? mine.map((g) => h('li', { class: 'item' },
      h('span', { class: 'who' }, avatar({ name: g.name, fileId: g.avatarFileId, key: g.id }), g.name, h('small', {}, ` · ${g.memberCount} members`)),
      h('a', { href: `#/chats/${g.conversationId}`, class: 'button primary' }, `Open ${g.name}`),
      h('a', { href: `#/groups/${g.id}`, class: 'button' }, 'Members'))) : h('li', { class: 'empty' }, 'You are in no group yet: find a public one below, join with an invite code, or create one.')),
    search, results, h('h2', {}, 'Join with an invite code'), byCode, create));
}

/** Friends to add to a new group, as checkboxes (none picked: a group of one, members added later). */
function memberPicker(ctx) {
  const friends = [...ctx.store.friends].sort((a, b) => displayName(a.user, a.remark).localeCompare(displayName(b.user, b.remark)));
  return h('fieldset', { class: 'picker' },
    h('legend', {}, 'Members'),
    friends.length
      ? h('ul', { class: 'pick-list' }, friends.map((f) => {
        const fid = `pick-${f.user.id}`;
        return h('li', {}, h('input', { type: 'checkbox', id: fid, name: 'memberIds', value: f.user.id }), h('label', { for: fid }, displayName(f.user, f.remark)));
      }))
      : h('p', { class: 'hint' }, 'Add friends first to pick them here; you can add members to the group later.'));
}

export async function renderGroup(pane, ctx, id, back) {
  const { store, me } = ctx;
  pane.refresh = null;
  let group, members;
  try {
    [group, members] = await Promise.all([api('GET', `/api/groups/${id}`), all(`/api/groups/${id}/members`)]);
  } catch (e) { toast(e.message, 'error', { follow: true }); location.hash = '#/groups'; return; }
  const myRole = members.find((m) => m.user.id === me.id)?.role ?? 'member';
  const rank = { owner: 2, admin: 1, member: 0 };
  const reload = () => renderGroup(pane, ctx, id, back);
  const act = (fn) => () => attempt(async () => { await fn(); await reload(); });
  const friendsNotIn = store.friends.filter((f) => !members.some((m) => m.user.id === f.user.id));
  const invite = h('select', { id: 'invite-who' }, friendsNotIn.map((f) => h('option', { value: f.user.id }, displayName(f.user, f.remark))));

  pane.replaceChildren(h('section', { class: 'page', 'aria-labelledby': 'group-title' },
    h('a', { href: `#/chats/${group.conversationId}`, class: 'back' }, '← Chat'),
    h('h1', { id: 'group-title', class: 'with-avatar' }, avatar({ name: group.name, fileId: group.avatarFileId, key: group.id }, 'l'), group.name),
    group.description ? h('p', {}, group.description) : null,
    h('p', {}, `${group.memberCount} members · ${group.visibility} · join: ${group.joinPolicy} · you are ${myRole}`),
    h('a', { href: `#/chats/${group.conversationId}`, class: 'button primary' }, 'Open chat'),
    h('h2', {}, 'Members'),
    h('ul', { class: 'list', id: 'members' }, members.map((m) => {
      const muted = m.mutedUntil && m.mutedUntil > Date.now();
      const canManage = m.user.id !== me.id && rank[myRole] > rank[m.role];
      return h('li', { class: 'item' },
        h('span', { class: 'who' }, userAvatar(m.user), displayName(m.user), h('small', {}, ` · ${m.role}${muted ? ' · muted' : ''}`)),
        canManage && myRole === 'owner' ? h('button', { type: 'button', onclick: act(() => api('PATCH', `/api/groups/${id}/members/${m.user.id}`, { role: m.role === 'admin' ? 'member' : 'admin' })) }, m.role === 'admin' ? 'Make member' : 'Make admin') : null,
        canManage ? h('button', { type: 'button', onclick: act(() => api('PATCH', `/api/groups/${id}/members/${m.user.id}`, { mutedUntil: muted ? null : Date.now() + 3600_000 })) }, muted ? `Unmute ${displayName(m.user)}` : `Mute ${displayName(m.user)} for 1 hour`) : null,
        canManage ? h('button', { type: 'button', class: 'danger', onclick: act(() => api('DELETE', `/api/groups/${id}/members/${m.user.id}`)) }, `Remove ${displayName(m.user)}`) : null);
    })),
    rank[myRole] > 0 || group.membersCanInvite ? h('form', { class: 'row-form', onsubmit: (e) => { e.preventDefault(); if (invite.value) act(() => api('POST', `/api/groups/${id}/members`, { userIds: [invite.value] }))(); } },
      h('div', { class: 'field' }, h('label', { for: 'invite-who' }, 'Add a friend'), invite), h('button', { type: 'submit' }, 'Add')) : null,
    rank[myRole] > 0 ? groupPicture(group, ctx, reload) : null,
    rank[myRole] > 0 ? inviteCodes(id) : null,
    h('button', { type: 'button', class: 'danger', onclick: () => attempt(async () => {
      await api('POST', `/api/groups/${id}/leave`);
      await store.catchUp();
      location.hash = '#/groups';
    }) }, 'Leave group')));
}

// Invite codes made in this tab, per group (the contract has no call that lists them).
const codes = new Map();

function inviteCodes(groupId) {
  const list = h('ul', { class: 'list', id: 'invite-codes' });
  const render = () => {
    const mine = codes.get(groupId) ?? [];
    list.replaceChildren(...(mine.length ? mine.map((c) => {
      const link = `${location.origin}/#/join/${encodeURIComponent(c.code)}`;
      return h('li', { class: 'item' },
        h('span', { class: 'who code' }, h('code', {}, c.code), h('small', {}, ` · until ${new Date(c.expiresAt).toLocaleString()}${c.maxUses ? ` · at most ${c.maxUses} uses` : ''}`)),
        h('button', { type: 'button', onclick: () => attempt(async () => { await navigator.clipboard.writeText(link); toast('Invite link copied.', 'notice'); }) }, 'Copy link'),
        h('button', { type: 'button', class: 'danger', onclick: () => attempt(async () => {
          await api('DELETE', `/api/groups/${groupId}/invite-codes/${encodeURIComponent(c.code)}`);
          codes.set(groupId, (codes.get(groupId) ?? []).filter((x) => x.code !== c.code));
          render();
          toast('Invite code revoked.', 'notice');
        }) }, 'Revoke'));
    }) : [h('li', { class: 'empty' }, 'No invite codes made here yet. A code lets anyone who has it join, this group even if private.')]));
  };
  const form = h('form', { class: 'row-form', 'aria-label': 'New invite code', onsubmit: (e) => {
    e.preventDefault();
    const d = new FormData(form);
    attempt(async () => {
      const maxUses = Number(d.get('maxUses')) || undefined;
      const c = await api('POST', `/api/groups/${groupId}/invite-codes`, { expiresInSeconds: Number(d.get('expires')), maxUses });
      codes.set(groupId, [c, ...(codes.get(groupId) ?? [])]);
      render();
    });
  } },
  h('div', { class: 'field' }, h('label', { for: 'code-expires' }, 'Valid for'),
    h('select', { name: 'expires', id: 'code-expires' }, [['3600', '1 hour'], ['86400', '1 day'], ['604800', '7 days'], ['2592000', '30 days']].map(([v, t]) => h('option', { value: v, selected: v === '604800' }, t)))),
  field('Uses (empty: no limit)', { name: 'maxUses', id: 'code-uses', type: 'number', min: 1, max: 100000 }),
  h('button', { type: 'submit' }, 'Make an invite code'));
  render();
  return h('div', { class: 'invite-codes' }, h('h2', {}, 'Invite codes'), form, list);
}

/** Joins by an invite code and opens the group's chat (or says that an admin will decide). */
export async function joinByCode(ctx, code) {
  if (!code) return;
  const before = new Set(ctx.store.conversations.keys());
  const r = await api('POST', '/api/groups/join-by-code', { code });
  if (r.status === 'pending') { toast('Asked to join; an admin will decide.', 'notice', { follow: true }); location.hash = '#/groups'; return; }
  await ctx.store.catchUp();
  const joined = [...ctx.store.conversations.keys()].find((id) => !before.has(id));
  location.hash = joined ? `#/chats/${joined}` : '#/chats';
  toast('You joined the group.', 'notice');
}

/** #/join/<code>: an invite link opened. */
export function renderJoin(pane, ctx, code, back) {
  pane.refresh = null;
  pane.replaceChildren(h('section', { class: 'page', 'aria-labelledby': 'join-title' }, back,
    h('h1', { id: 'join-title' }, 'Join a group'),
    h('p', {}, 'You were invited to a group with this code:'),
    h('p', {}, h('code', {}, code)),
    h('button', { type: 'button', class: 'primary', onclick: () => attempt(() => joinByCode(ctx, code)) }, 'Join the group'),
    ' ', h('a', { href: '#/groups', class: 'button' }, 'Not now')));
}

// The group's picture (admins): an uploaded image set with PATCH /api/groups/{id} {avatarFileId}.
function groupPicture(group, ctx, reload) {
  const pick = h('input', { type: 'file', id: 'group-picture', accept: 'image/*', onchange: () => attempt(async () => {
    const file = pick.files[0];
    pick.value = '';
    if (!file) return;
    const up = await upload(file);
    if (!up.contentType.startsWith('image/')) throw new Error('A group picture must be an image.');
    await api('PATCH', `/api/groups/${group.id}`, { avatarFileId: up.id });
    await ctx.store.catchUp(); // the conversation list shows the new picture
    await reload();
    toast('Group picture saved.', 'notice');
  }) });
  return h('div', { class: 'field group-picture' }, h('label', { for: 'group-picture' }, 'Group picture'), pick);
}
