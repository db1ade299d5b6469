// `@` autocomplete in a group's message box (a listbox driven from the textarea by aria-activedescendant): typing `@` and letters
// lists the members whose name or username matches; arrow keys move, Enter or Tab picks, Escape closes. A pick
// inserts `@Name ` and remembers the member, and the send carries the real `mentions` (user ids) of the names
// still in the text; admins and the owner also get `@all` (the contract's ["all"]).

import { all } from '../sdk/api.js';
import { h, displayName } from './dom.js';

export function mentionBox(textarea, ctx, conversation) {
  const groupId = conversation?.type === 'group' ? conversation.group?.id : null;
  const list = h('ul', { class: 'mention-list', role: 'listbox', id: 'mention-list', 'aria-label': 'Members to mention', hidden: true });
  const picked = new Map(); // inserted text "@Name" -> user id (or 'all')
  let members = null;
  let options = [];
  let active = 0;
  let start = -1; // where the `@` being completed is

  if (!groupId) return { list, mentions: () => [], reset() {} };
  // The textarea keeps its implicit textbox role (a textarea may not be a combobox): aria-autocomplete,
  // aria-controls and aria-activedescendant are what a textbox allows.
  textarea.setAttribute('aria-autocomplete', 'list');
  textarea.setAttribute('aria-controls', 'mention-list');

  async function load() {
    if (!members) {
      members = all(`/api/groups/${groupId}/members`).catch(() => { members = null; return []; });
    }
    return members;
  }

  function close() {
    list.hidden = true;
    options = [];
    start = -1;
    textarea.removeAttribute('aria-activedescendant');
  }

  function show() {
    list.replaceChildren(...options.map((o, i) => h('li', {
      role: 'option', id: `mention-${i}`, class: 'mention-option', 'aria-selected': i === active ? 'true' : 'false',
      onpointerdown: (e) => { e.preventDefault(); pick(i); },
    }, o.label, o.username ? h('small', {}, ` @${o.username}`) : null)));
    list.hidden = !options.length;
    if (options.length) textarea.setAttribute('aria-activedescendant', `mention-${active}`);
    else textarea.removeAttribute('aria-activedescendant');
  }

  function pick(i) {
    const o = options[i];
    if (!o) return;
    const token = `@${o.label}`;
    const caret = textarea.selectionStart;
    textarea.value = `${textarea.value.slice(0, start)}${token} ${textarea.value.slice(caret)}`;
    const at = start + token.length + 1;
    textarea.setSelectionRange(at, at);
    picked.set(token, o.id);
    close();
    textarea.dispatchEvent(new Event('input', { bubbles: true }));
  }

  textarea.addEventListener('input', async () => {
    const caret = textarea.selectionStart;
    const before = textarea.value.slice(0, caret);
    const match = /(^|\s)@([^\s@]{0,32})$/.exec(before);
    if (!match) { close(); return; }
    start = caret - match[2].length - 1;
    const q = match[2].toLowerCase();
    const found = await load();
    if (start < 0) return; // closed while loading
    const mine = found.find((m) => m.user.id === ctx.me.id)?.role;
    const candidates = found.filter((m) => m.user.id !== ctx.me.id).map((m) => ({ id: m.user.id, label: displayName(m.user), username: m.user.username }));
    if (mine === 'owner' || mine === 'admin') candidates.unshift({ id: 'all', label: 'all', username: null });
    options = candidates.filter((o) => o.label.toLowerCase().includes(q) || o.username?.toLowerCase().startsWith(q)).slice(0, 8);
    active = 0;
    show();
  });

  // Registered before the composer's own keydown (Enter sends), so a pick takes the Enter.
  textarea.addEventListener('keydown', (e) => {
    if (list.hidden || !options.length) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      active = (active + (e.key === 'ArrowDown' ? 1 : -1) + options.length) % options.length;
      show();
    } else if (e.key === 'Enter' || e.key === 'Tab') {
      e.preventDefault();
      e.stopImmediatePropagation();
      pick(active);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopImmediatePropagation();
      close();
    }
  });
  textarea.addEventListener('blur', () => close());

  return {
    list,
    /** The ids of the picked members whose `@Name` is still in `text`. */
    mentions(text) {
      const ids = [...new Set([...picked].filter(([token]) => text.includes(token)).map(([, id]) => id))];
      return ids.includes('all') ? ['all'] : ids;
    },
    reset() { picked.clear(); close(); },
  };
}
