// Opt-in desktop notifications (the Notification API) for messages in conversations that are not on screen and
// not muted. Off until the person turns them on in Profile (which asks the browser's permission); the choice is
// kept per user in localStorage (`parley.notify.<userId>`). The text shown is the message's one-line summary.

import { displayName, summary } from './dom.js';

const key = (ctx) => `parley.notify.${ctx.me.id}`;
export const notificationsSupported = () => typeof Notification !== 'undefined';
export const notificationsOn = (ctx) => notificationsSupported() && Notification.permission === 'granted' && localStorage.getItem(key(ctx)) === 'on';

/** Asks the browser's permission and turns them on; false if the browser or the person says no. */
export async function enableNotifications(ctx) {
  if (!notificationsSupported()) return false;
  const permission = Notification.permission === 'granted' ? 'granted' : await Notification.requestPermission();
  if (permission !== 'granted') return false;
  localStorage.setItem(key(ctx), 'on');
  return true;
}

export function disableNotifications(ctx) { localStorage.removeItem(key(ctx)); }

/** A `message` frame: a notification when it is from someone else, for a conversation not in view and not muted. */
export async function notifyMessage(ctx, m) {
  if (!notificationsOn(ctx) || m.senderId === ctx.me.id || m.recalled) return;
  const { store } = ctx;
  const c = store.conversations.get(m.conversationId);
  if (!c || c.muted) return;
  if (m.conversationId === store.openId && document.visibilityState === 'visible' && document.hasFocus()) return;
  const sender = await store.user(m.senderId).then((u) => displayName(u, store.friends.find((f) => f.user.id === m.senderId)?.remark), () => 'Someone');
  const title = c.type === 'group' ? `${sender} in ${c.group?.name ?? 'a group'}` : sender;
  const n = new Notification(title, { body: summary(m).slice(0, 140), tag: `parley-${m.conversationId}` });
  n.onclick = () => { window.focus(); location.hash = `#/chats/${m.conversationId}`; n.close(); };
}
