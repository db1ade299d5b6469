// Per-conversation mute (the contract's `muted`, PATCH /api/conversations/{id} {muted}): for an hour, 8 hours, a
// day, a week, or until turned back on. The server holds only whether it is muted; the end of a timed mute is kept
// in this browser's localStorage (`parley.muteUntil.<userId>.<conversationId>`) and this client unmutes when it
// has passed (at start, and by a timer while it runs). A muted conversation sends no offline pushes and no
// desktop notifications, and its unread badge is grey.

import { api } from '../sdk/api.js';
import { h, attempt } from './dom.js';

const HOUR = 3600_000;
export const CHOICES = [
  ['on', 'Notifications on', 0],
  ['1h', 'Muted for 1 hour', HOUR],
  ['8h', 'Muted for 8 hours', 8 * HOUR],
  ['1d', 'Muted for 1 day', 24 * HOUR],
  ['1w', 'Muted for 1 week', 7 * 24 * HOUR],
  ['forever', 'Muted until I turn it back on', 0],
];

const key = (ctx, id) => `parley.muteUntil.${ctx.me.id}.${id}`;
export function muteUntil(ctx, id) {
  const v = Number(localStorage.getItem(key(ctx, id)));
  return Number.isFinite(v) && v > 0 ? v : null;
}

/** Sets a conversation's mute to one of CHOICES. */
export async function setMute(ctx, id, choice) {
  const [, , ms] = CHOICES.find(([v]) => v === choice) ?? CHOICES[0];
  const muted = choice !== 'on';
  const fresh = await api('PATCH', `/api/conversations/${id}`, { muted });
  if (muted && ms) localStorage.setItem(key(ctx, id), String(Date.now() + ms));
  else localStorage.removeItem(key(ctx, id));
  const c = ctx.store.conversations.get(id);
  if (c) { c.muted = fresh?.muted ?? muted; ctx.store.changed(id); }
  scheduleExpiry(ctx);
}

let timer = 0;
/** Ends every timed mute whose time has passed, and wakes up for the next one. */
export async function expireMutes(ctx) {
  clearTimeout(timer);
  const prefix = `parley.muteUntil.${ctx.me.id}.`;
  const now = Date.now();
  for (const k of Object.keys(localStorage)) {
    if (!k.startsWith(prefix)) continue;
    const id = k.slice(prefix.length);
    const c = ctx.store.conversations.get(id);
    if (c && !c.muted) { localStorage.removeItem(k); continue; } // unmuted elsewhere
    if (Number(localStorage.getItem(k)) > now) continue;
    await attempt(async () => {
      try { await setMute(ctx, id, 'on'); } catch (error) {
        if (error.status === 404) { localStorage.removeItem(k); return; } // left the conversation
        throw error;
      }
    });
  }
  scheduleExpiry(ctx);
}

function scheduleExpiry(ctx) {
  clearTimeout(timer);
  const prefix = `parley.muteUntil.${ctx.me.id}.`;
  const next = Math.min(...Object.keys(localStorage).filter((k) => k.startsWith(prefix)).map((k) => Number(localStorage.getItem(k)) || 0));
  if (Number.isFinite(next)) timer = setTimeout(() => { if (ctx.store) expireMutes(ctx); }, Math.min(Math.max(0, next - Date.now()) + 500, HOUR));
}

export function stopMuteTimer() { clearTimeout(timer); }

/** The header's select: the current state (a timed mute shows when it ends) and the choices. */
export function muteSelect(ctx, id) {
  const c = ctx.store.conversations.get(id);
  const until = muteUntil(ctx, id);
  const current = !c?.muted ? 'on' : until ? 'until' : 'forever';
  const select = h('select', { id: 'mute', class: 'mute', onchange: () => attempt(async () => {
    const choice = select.value;
    if (choice === 'until') return;
    try { await setMute(ctx, id, choice); } catch (error) { select.value = current; throw error; }
  }) },
  current === 'until' ? h('option', { value: 'until' }, `Muted until ${new Date(until).toLocaleString([], { weekday: 'short', hour: '2-digit', minute: '2-digit' })}`) : null,
  CHOICES.map(([v, label]) => h('option', { value: v }, label)));
  select.value = current;
  return h('span', { class: 'mute-box' }, h('label', { for: 'mute', class: 'sr-only' }, 'Notifications'), select);
}
