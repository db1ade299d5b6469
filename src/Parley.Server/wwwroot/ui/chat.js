// The chat view: scrollback, composer (Enter sends, Shift+Enter adds a line), attachments with progress,
// thumbnails, receipts, typing, recall, delete for me and reply; a search box for this conversation, and opening
// at a message (a search result: focusSeq) with that message scrolled into view and marked.

import { upload, fileUrl, api } from '../api.js';
import { h, toast, attempt, time, displayName, presenceDot, size } from './dom.js';
import { searchForm } from './search.js';
import { muteSelect, muteUntil } from './mute.js';

const RECALL_WINDOW_MS = 120_000;

export function renderChat(pane, ctx, id, back, focusSeq = null) {
  const { store, socket, me } = ctx;
  let replyTo = null;
  let found = null; // the seq opened from a search result, marked in every rebuild of its row
  const rows = new Map(); // seq -> {el, sig}

  const title = h('h1', { id: 'chat-title' });
  const headerExtra = h('span', { class: 'chat-extra' });
  const muteSlot = h('span', { class: 'mute-slot' });
  let muteSig = null;
  const older = h('button', { type: 'button', class: 'older', onclick: () => attempt(loadOlder) }, 'Load earlier messages');
  const list = h('ol', { class: 'messages', 'aria-labelledby': 'chat-title', 'aria-live': 'polite', 'aria-relevant': 'additions' });
  const scroller = h('div', { class: 'scroller', role: 'log', tabindex: '0', 'aria-label': 'Messages' }, older, list);
  const typing = h('div', { class: 'typing', 'aria-live': 'polite' });
  const replyBar = h('div', { class: 'reply-bar', hidden: true });
  const progress = h('progress', { max: 1, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const text = h('textarea', { id: 'composer', rows: 1, placeholder: 'Message (Enter sends, Shift+Enter for a new line)', maxLength: 16000 });
  // The file input is hidden (never focused); the visible Attach button opens it.
  const fileInput = h('input', { type: 'file', id: 'attach', hidden: true, tabindex: '-1', onchange: () => attempt(sendFile) });
  const composer = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); attempt(sendText); } },
    h('label', { for: 'composer', class: 'sr-only' }, 'Message'),
    h('button', { type: 'button', class: 'attach', title: 'Attach an image or file', 'aria-label': 'Attach an image or file', onclick: () => fileInput.click() }, 'Attach'),
    fileInput, text,
    h('button', { type: 'submit', class: 'primary' }, 'Send'));

  pane.replaceChildren(
    h('section', { class: 'chat', 'aria-labelledby': 'chat-title' },
      h('div', { class: 'chat-head' }, back, title, headerExtra, muteSlot, searchForm({ conversationId: id, label: 'Search in this conversation' })), scroller, typing, replyBar, progress, composer));

  // The draft (text and the message replied to) is kept per conversation in localStorage across reloads; it goes
  // when sent, and on logout. Nothing else is kept there (never a token).
  const draftKey = `parley.draft.${me.id}.${id}`;
  function saveDraft() {
    if (!text.value && !replyTo) localStorage.removeItem(draftKey);
    else localStorage.setItem(draftKey, JSON.stringify({ text: text.value, replyTo: replyTo?.seq ?? null }));
  }
  const draft = (() => { try { return JSON.parse(localStorage.getItem(draftKey)); } catch { return null; } })();
  if (typeof draft?.text === 'string') text.value = draft.text;
  text.addEventListener('input', saveDraft);

  let lastTyping = 0;
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); composer.requestSubmit(); }
  });
  text.addEventListener('input', () => {
    if (Date.now() - lastTyping > 2000 && text.value) { lastTyping = Date.now(); socket.send({ type: 'typing', conversationId: id }); }
  });
  scroller.addEventListener('scroll', () => { if (scroller.scrollTop < 40) attempt(loadOlder); });

  async function loadOlder() {
    const c = store.conversations.get(id);
    if (!c?.hasOlder || loadOlder.busy) return;
    loadOlder.busy = true;
    // Keep the reader's place: the first message in view stays where it is on the screen as earlier ones arrive
    // above it (the scroller has overflow-anchor: none, so the browser does not move it as well).
    const box = scroller.getBoundingClientRect().top;
    const anchor = [...list.querySelectorAll('.msg')].find((el) => el.getBoundingClientRect().bottom > box);
    const offset = anchor ? anchor.getBoundingClientRect().top - box : 0;
    try { await store.loadOlder(id); } finally { loadOlder.busy = false; }
    if (anchor?.isConnected) scroller.scrollTop += anchor.getBoundingClientRect().top - box - offset;
  }

  async function sendText() {
    const value = text.value;
    if (!value.trim()) return;
    text.value = '';
    const reply = replyTo;
    setReply(null);
    try {
      await store.send(id, 'text', { text: value }, reply?.seq);
    } catch (error) {
      text.value = value; // nothing is lost: the text goes back for another try
      if (reply && !replyTo) setReply(reply);
      saveDraft();
      throw error;
    }
  }

  async function sendFile() {
    const file = fileInput.files[0];
    fileInput.value = '';
    if (!file) return;
    progress.hidden = false; progress.value = 0;
    try {
      const up = await upload(file, (f) => { progress.value = f; });
      const isImage = up.contentType.startsWith('image/');
      const content = isImage
        ? { fileId: up.id, width: up.width ?? undefined, height: up.height ?? undefined }
        : { fileId: up.id, name: file.name || up.name || 'file', size: up.size };
      await store.send(id, isImage ? 'image' : 'file', content, replyTo?.seq);
      setReply(null);
    } finally {
      progress.hidden = true;
    }
  }

  function setReply(m, { focus = true } = {}) {
    replyTo = m;
    replyBar.hidden = !m;
    saveDraft();
    if (m) {
      replyBar.replaceChildren(h('span', {}, 'Replying to: ', snippet(m.type ? m : null)),
        h('button', { type: 'button', class: 'link', onclick: () => setReply(null) }, 'Cancel reply'));
      if (focus) text.focus();
    }
  }

  function snippet(m) {
    if (!m) return 'an earlier message';
    if (m.recalled) return 'a recalled message';
    return m.type === 'text' ? m.content.text.slice(0, 80) : m.type === 'image' ? 'a photo' : m.content?.name ?? m.type;
  }

  function body(m) {
    if (m.recalled) return h('em', { class: 'recalled' }, 'This message was recalled.');
    switch (m.type) {
      case 'text': return h('p', { class: 'text' }, m.content.text);
      case 'image': {
        const img = h('img', { alt: 'Photo', class: 'thumb', width: thumbSize(m.content).w, height: thumbSize(m.content).h });
        fileUrl(m.content.fileId, true).then((u) => { img.src = u; }, () => fileUrl(m.content.fileId).then((u) => { img.src = u; }, () => { img.alt = 'Photo (cannot be shown)'; }));
        return h('button', { type: 'button', class: 'thumb-button', 'aria-label': 'Open photo full size', onclick: () => attempt(() => openImage(m.content.fileId)) }, img);
      }
      case 'file':
        return h('button', { type: 'button', class: 'file', onclick: () => attempt(() => download(m.content)) }, `📄 ${m.content.name} (${size(m.content.size)})`);
      default: return h('p', { class: 'text' }, `[${m.type} message]`);
    }
  }

  function receipt(m, c) {
    if (m.senderId !== me.id || c.type !== 'direct') return null;
    const read = c.peerReadSeq >= m.seq;
    return h('span', { class: `receipt ${read ? 'read' : 'sent'}`, 'data-receipt': read ? 'read' : 'sent' }, read ? 'Read' : 'Sent');
  }

  function row(m, c, sender) {
    const mine = m.senderId === me.id;
    const canRecall = !m.recalled && mine && Date.now() - m.sentAt < RECALL_WINDOW_MS;
    const reply = m.replyTo ? store.messages.get(id)?.get(m.replyTo) : null;
    return h('li', { class: `msg ${mine ? 'mine' : 'theirs'}${m.seq === found ? ' found' : ''}`, 'data-seq': m.seq, tabindex: m.seq === found ? '-1' : undefined },
      h('div', { class: 'meta' }, h('span', { class: 'sender' }, mine ? 'You' : sender), ' · ', h('time', { datetime: new Date(m.sentAt).toISOString() }, time(m.sentAt)),
        receipt(m, c) ? [' · ', receipt(m, c)] : null),
      m.replyTo ? h('blockquote', { class: 'quote' }, 'Reply to: ', snippet(reply)) : null,
      body(m),
      h('div', { class: 'actions' },
        m.recalled ? null : h('button', { type: 'button', class: 'link', onclick: () => setReply(m) }, 'Reply'),
        canRecall ? h('button', { type: 'button', class: 'link', onclick: () => attempt(() => store.recall(id, m.seq)) }, 'Recall') : null,
        h('button', { type: 'button', class: 'link', onclick: () => attempt(() => store.deleteForMe(id, m.seq)) }, 'Delete for me'),
        mine && c.type === 'group' ? h('button', { type: 'button', class: 'link', onclick: () => attempt(() => showReaders(m)) }, 'Seen by') : null));
  }

  async function showReaders(m) {
    const r = await api('GET', `/api/conversations/${id}/messages/${m.seq}/receipts`);
    const named = (ids) => Promise.all(ids.map((u) => store.user(u).then((x) => displayName(x), () => 'someone')));
    const [read, unread] = await Promise.all([named(r.readBy), named(r.unreadBy)]);
    toast(seenWords(read, unread), 'notice');
  }

  const names = new Map();
  function senderName(userId) {
    if (!names.has(userId)) {
      names.set(userId, '…');
      store.user(userId).then((u) => {
        names.set(userId, displayName(u, store.friends.find((f) => f.user.id === userId)?.remark));
        // Every row is rebuilt with the name; the reader stays where they were (an emptied list would read as "at the bottom").
        const top = scroller.scrollTop;
        const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
        for (const entry of rows.values()) entry.el.remove();
        rows.clear();
        if (pane.refresh === refresh) { refresh(atBottom); if (!atBottom) scroller.scrollTop = top; }
      }, () => {});
    }
    return names.get(userId);
  }

  function refresh(atBottom) {
    const c = store.conversations.get(id);
    if (!c) return;
    title.replaceChildren(c.type === 'direct' ? displayName(c.peer, store.friends.find((f) => f.user.id === c.peer.id)?.remark) : c.group.name);
    headerExtra.replaceChildren(c.type === 'direct'
      ? presenceDot(store.presence.get(c.peer.id))
      : h('a', { href: `#/groups/${c.group.id}`, class: 'button' }, 'Members'));
    const sig = `${c.muted}|${muteUntil(ctx, id)}`;
    if (sig !== muteSig) { muteSig = sig; muteSlot.replaceChildren(muteSelect(ctx, id)); }
    older.hidden = !c.hasOlder;
    const nearBottom = typeof atBottom === 'boolean' ? atBottom : scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    const messages = [...(store.messages.get(id)?.values() ?? [])].sort((a, b) => a.seq - b.seq);
    const keep = new Set();
    let prev = null;
    for (const m of messages) {
      keep.add(m.seq);
      const sig = `${m.seq === found}|${m.recalled}|${c.peerReadSeq >= m.seq}|${m.replyTo ? !!store.messages.get(id)?.get(m.replyTo) : ''}|${Date.now() - m.sentAt < RECALL_WINDOW_MS}`;
      let entry = rows.get(m.seq);
      if (!entry || entry.sig !== sig) {
        const el = row(m, c, senderName(m.senderId));
        if (entry) entry.el.replaceWith(el);
        entry = { el, sig };
        rows.set(m.seq, entry);
      }
      const want = prev ? prev.nextSibling : list.firstChild;
      if (want !== entry.el) list.insertBefore(entry.el, want);
      prev = entry.el;
    }
    for (const [seq, entry] of rows) if (!keep.has(seq)) { entry.el.remove(); rows.delete(seq); }
    const typers = [...c.typing.keys()].map(senderName);
    typing.textContent = typers.length ? `${typers.join(', ')} ${typers.length > 1 ? 'are' : 'is'} typing…` : '';
    if (nearBottom || !refresh.scrolled) { scroller.scrollTop = scroller.scrollHeight; refresh.scrolled = true; }
  }

  pane.refresh = refresh;
  attempt(async () => {
    await store.open(id);
    if (focusSeq) await store.loadBack(id, focusSeq);
  }).then(() => {
    if (pane.refresh !== refresh) return;
    // Opened from a search result: that message marked (in every rebuild of its row, a receipt changing it say),
    // in view, and kept in view by later refreshes.
    found = focusSeq;
    if (draft?.replyTo && !replyTo) setReply(store.messages.get(id)?.get(draft.replyTo) ?? { seq: draft.replyTo }, { focus: false });
    refresh();
    const target = focusSeq ? rows.get(focusSeq)?.el : null;
    if (target) {
      target.scrollIntoView({ block: 'center' });
      target.focus({ preventScroll: true });
      refresh.scrolled = true;
    } else {
      if (focusSeq) toast('That message is no longer in this conversation.', 'notice');
      text.focus();
    }
  });
  // Recall buttons disappear when the window passes.
  const timer = setInterval(() => { if (pane.refresh !== refresh) clearInterval(timer); else refresh(); }, 15_000);
}

/** "Seen by Bob and Carol.", "Seen by Bob; not yet by Carol.", "Not seen yet by Bob or Carol." (at most 10 names). */
export function seenWords(read, unread) {
  const list = (names, last) => {
    const shown = names.slice(0, 10);
    const more = names.length - shown.length;
    if (more > 0) return `${shown.join(', ')} ${last} ${more} more`;
    return shown.length <= 1 ? shown.join('') : `${shown.slice(0, -1).join(', ')} ${last} ${shown.at(-1)}`;
  };
  if (!read.length) return unread.length ? `Not seen yet by ${list(unread, 'or')}.` : 'Not seen yet.';
  if (!unread.length) return `Seen by ${list(read, 'and')}.`;
  return `Seen by ${list(read, 'and')}; not yet by ${list(unread, 'or')}.`;
}

function thumbSize(content) {
  const w = content.width ?? 240, hgt = content.height ?? 180;
  const scale = Math.min(1, 240 / Math.max(w, hgt));
  return { w: Math.round(w * scale), h: Math.round(hgt * scale) };
}

async function openImage(fileId) {
  const viewer = document.getElementById('viewer');
  const img = document.getElementById('viewer-img');
  img.src = await fileUrl(fileId);
  viewer.showModal();
}

async function download(content) {
  const url = await fileUrl(content.fileId);
  const a = h('a', { href: url, download: content.name });
  document.body.append(a);
  a.click();
  a.remove();
}
