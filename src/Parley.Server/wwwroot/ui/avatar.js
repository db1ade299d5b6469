// Avatars of users and groups: the picture (its thumbnail, fetched with the Bearer header as an object URL) or,
// without one or until it has loaded, the initials on a colour chosen by the id. Decorative: the name is always
// beside it, so it is hidden from screen readers.

import { fileUrl } from '../sdk/api.js';
import { h } from './dom.js';

const COLOURS = 8; // .av-c0 ... .av-c7 in styles.css, each with white text at AA contrast

function initials(name) {
  const words = String(name ?? '?').trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words.at(-1)].map((w) => [...w][0]) : [...(words[0] ?? '?')].slice(0, 1);
  return letters.join('').toUpperCase();
}

function colour(key) {
  let x = 0;
  for (const ch of String(key ?? '')) x = (x * 31 + ch.codePointAt(0)) >>> 0;
  return x % COLOURS;
}

// fileId -> the object URL of its picture, once that has loaded: lists are rebuilt on every change (a message,
// presence, a catch-up), and a rebuilt avatar shows a picture already seen at once instead of its initials until
// the image has loaded again (the avatars flickered, and a picture could be missing right after it had been shown).
const shown = new Map();

/** An avatar: `name` for the initials, `fileId` for the picture, `key` (an id) for the colour; size s, m or l. */
export function avatar({ name, fileId, key }, size = 'm') {
  const el = h('span', { class: `av av-${size} av-c${colour(key ?? name)}`, 'aria-hidden': 'true', 'data-avatar': fileId ?? '' }, initials(name));
  if (fileId && shown.has(fileId)) {
    el.replaceChildren(h('img', { src: shown.get(fileId), alt: '', class: 'av-img' }));
  } else if (fileId) {
    fileUrl(fileId, true).catch(() => fileUrl(fileId)).then((url) => {
      const img = h('img', { src: url, alt: '', class: 'av-img' });
      img.addEventListener('load', () => { shown.set(fileId, url); el.replaceChildren(img); }, { once: true });
    }, () => {});
  }
  return el;
}

export function userAvatar(user, size = 'm', remark) {
  return avatar({ name: remark || user?.nickname || user?.username, fileId: user?.avatarFileId, key: user?.id }, size);
}

/** A conversation's avatar: the peer's for a direct chat, the group's for a group. */
export function conversationAvatar(c, size = 'm', name) {
  return c?.type === 'group'
    ? avatar({ name: name ?? c.group?.name, fileId: c.group?.avatarFileId, key: c.group?.id ?? c.id }, size)
    : userAvatar(c?.peer, size, name);
}
