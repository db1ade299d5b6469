// A tiny element builder and shared bits of UI. Text is always set as text (never innerHTML), so nothing a
// user typed can become markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key in el && key !== 'list' && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// Toasts sit in a strip of their own in the page flow (index.html, above the app), so they never cover a control
// or a message. An error belongs to the screen it was shown on and goes when that screen does (setScreen).
let screen = '';

/** Called by the app when the screen changes: the errors of the screen left are removed. */
export function setScreen(key) {
  if (key === screen) return;
  screen = key;
  for (const item of document.querySelectorAll('#alerts .toast')) if (item.dataset.screen !== '*') item.remove();
}

/**
 * Shows an error (or notice) in plain words in the live region; errors are never silent. `follow: true` keeps an
 * error across screen changes (a page that could not be shown sends the reader back, with the reason).
 */
export function toast(text, kind = 'error', { follow = false } = {}) {
  const region = document.getElementById(kind === 'error' ? 'alerts' : 'notices');
  const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss' }, '×');
  const item = h('div', { class: `toast ${kind}`, 'data-screen': follow ? '*' : screen }, h('span', {}, text), close);
  close.addEventListener('click', () => item.remove());
  region.append(item);
  // Notices step aside quickly; errors stay longer (and can be dismissed at once).
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000);
}

/** Runs an action and reports a failure to the person. */
export async function attempt(action) {
  try { return await action(); } catch (error) { toast(error.message || String(error)); return undefined; }
}

/** A labelled input. */
export function field(label, attrs) {
  const id = attrs.id ?? `f-${Math.random().toString(36).slice(2, 9)}`;
  const input = h(attrs.multiline ? 'textarea' : 'input', { ...attrs, id, multiline: undefined });
  return h('div', { class: 'field' }, h('label', { for: id }, label), input);
}

export function time(ms) {
  const d = new Date(ms);
  const today = new Date();
  return d.toDateString() === today.toDateString()
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

export function displayName(user, remark) {
  return remark || user?.nickname || user?.username || 'Someone';
}

export function presenceDot(online) {
  return h('span', { class: `dot ${online ? 'on' : 'off'}`, role: 'img', 'aria-label': online ? 'online' : 'offline', title: online ? 'online' : 'offline' });
}

/** One line for a message (the conversation list, notifications); `meId` says whose side a call is told from. */
export function summary(m, meId) {
  if (!m) return 'No messages yet';
  if (m.recalled) return 'Message recalled';
  const c = m.content ?? {};
  switch (m.type) {
    case 'text': return c.text;
    case 'image': return 'Photo';
    case 'file': return `File: ${c.name}`;
    case 'audio': return `Audio${c.durationMs ? ` (${duration(c.durationMs)})` : ''}`;
    case 'video': return `Video${c.durationMs ? ` (${duration(c.durationMs)})` : ''}`;
    case 'location': return `Location${c.title ? `: ${c.title}` : ''}`;
    case 'link': return `Link: ${c.title || c.url}`;
    case 'call': return callWords(c, meId !== undefined && m.senderId === meId);
    case 'custom': return 'Custom message';
    default: return `Message (${m.type})`;
  }
}

/**
 * A `call` message in words, said from the reader's side: the caller (`mine`, the message's sender) reads "Audio call,
 * no answer", the callee "Missed audio call".
 */
export function callWords(c, mine = false) {
  const media = c?.media === 'video' ? 'video call' : 'audio call';
  const Media = `${media[0].toUpperCase()}${media.slice(1)}`;
  switch (c?.outcome) {
    case 'completed': return `${Media}${c.durationMs ? ` (${duration(c.durationMs)})` : ''}`;
    case 'missed': return mine ? `${Media}, no answer` : `Missed ${media}`;
    case 'rejected': return mine ? `${Media}, declined` : `Declined ${media}`;
    case 'busy': return mine ? `${Media}, busy` : `Missed ${media} (you were in another call)`;
    case 'unavailable': return mine ? `${Media}, not reachable` : `Missed ${media} (you were offline)`;
    default: return `${Media} failed`;
  }
}

/** m:ss or h:mm:ss. */
export function duration(ms) {
  const t = Math.round(ms / 1000);
  const hh = Math.floor(t / 3600), mm = Math.floor((t % 3600) / 60), ss = t % 60;
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${String(ss).padStart(2, '0')}` : `${mm}:${String(ss).padStart(2, '0')}`;
}

/** "Today", "Yesterday", or the date. */
export function dayLabel(ms) {
  const d = new Date(ms);
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (d.toDateString() === today.toDateString()) return 'Today';
  if (d.toDateString() === yesterday.toDateString()) return 'Yesterday';
  return d.toLocaleDateString([], { weekday: 'long', month: 'long', day: 'numeric', year: d.getFullYear() === today.getFullYear() ? undefined : 'numeric' });
}

/** "last seen today at 10:42" style words for a time in the past. */
export function lastSeenWords(ms) {
  const d = new Date(ms);
  const clock = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const day = dayLabel(ms);
  return `last seen ${day === 'Today' || day === 'Yesterday' ? day.toLowerCase() : day} at ${clock}`;
}

/** The URL if it is http(s), else null: nothing else (javascript:, data:, ...) ever becomes a link. */
export function safeUrl(url) {
  try {
    const u = new URL(String(url));
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch { return null; }
}

/** A link that opens in a new tab without giving it this page (rel=noopener noreferrer); text as text. */
export function extLink(href, text, attrs = {}) {
  return h('a', { ...attrs, href, target: '_blank', rel: 'noopener noreferrer' }, text);
}

const URLS = /\bhttps?:\/\/[^\s<>"']+/gi;
/** Text with its http(s) URLs as links: text nodes and <a> elements only, never HTML. */
export function linkify(text) {
  const parts = [];
  let last = 0;
  for (const match of String(text).matchAll(URLS)) {
    let url = match[0];
    // Trailing punctuation belongs to the sentence (a closing parenthesis only when it opens none in the URL).
    while (/[.,!?;:]$/.test(url) || (url.endsWith(')') && !url.includes('('))) url = url.slice(0, -1);
    const href = safeUrl(url);
    if (!href) continue;
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push(extLink(href, url));
    last = match.index + url.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

export function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
