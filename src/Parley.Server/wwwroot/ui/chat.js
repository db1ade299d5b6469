// The chat view: scrollback (the reader's place kept as messages arrive above or below), day separators, messages
// grouped by sender and minute, an unread divider and "jump to new", every message type (text with clickable
// links, image, file, audio and video players, location, link with its preview, call, custom), receipts, typing,
// recall, delete for me, reply (a click on a quote jumps to the original), the composer (Enter sends,
// Shift+Enter adds a line; emoji picker; `@` autocomplete in groups; paste or drop files to send with a caption;
// drafts kept per conversation), mute, audio and video call buttons (ui/calls.js), a search box for this conversation, and opening at a message (a search
// result: focusSeq) with that message scrolled into view and marked. User text is only ever set as text.

import { upload, fileUrl, api } from '../sdk/api.js';
import { h, toast, attempt, time, displayName, presenceDot, size, linkify, safeUrl, extLink, dayLabel, duration, callWords, lastSeenWords } from './dom.js';
import { searchForm } from './search.js';
import { muteSelect, muteUntil } from './mute.js';
import { userAvatar, conversationAvatar } from './avatar.js';
import { emojiPicker } from './emoji.js';
import { mentionBox } from './mentions.js';

const RECALL_WINDOW_MS = 120_000;
const NEAR_BOTTOM_PX = 80;

export function renderChat(pane, ctx, id, back, focusSeq = null) {
  const { store, socket, me } = ctx;
  let replyTo = null;
  let found = null; // the seq opened from a search result or a quote, marked in every rebuild of its row
  let ready = false; // the first positioning (bottom, unread divider or found message) is done
  let opened = false; // store.open has finished (its first page is in)
  const rows = new Map(); // key (m<seq>, d<day>, unread) -> {el, sig}
  let staged = []; // files pasted or dropped, sent with the text as their caption
  // Where the unread messages began when the chat was opened (the divider stays there until it is opened again).
  const atOpen = store.conversations.get(id);
  const unreadFrom = atOpen && atOpen.unreadCount > 0 ? (atOpen.readSeq ?? 0) + 1 : null;
  let lastSeenSeq = 0; // the newest seq shown while the reader was at the bottom
  let newBelow = 0;
  const outRows = new Map(); // clientMsgId -> {el, sig}: messages on their way (the SDK's outbox)

  const title = h('h1', { id: 'chat-title' });
  const titleAvatar = h('span', { class: 'head-avatar' });
  const subtitle = h('span', { class: 'chat-sub', id: 'chat-sub' });
  const headerExtra = h('span', { class: 'chat-extra' });
  const muteSlot = h('span', { class: 'mute-slot' });
  const callSlot = h('span', { class: 'call-slot' }); // audio and video call buttons, direct chats only (ui/calls.js)
  let muteSig = null;
  let headSig = null;
  const older = h('button', { type: 'button', class: 'older', onclick: () => attempt(loadOlder) }, 'Load earlier messages');
  const empty = h('p', { class: 'empty chat-empty', hidden: true }, 'No messages yet. Say hello: type below and press Enter.');
  const list = h('ol', { class: 'messages', 'aria-labelledby': 'chat-title' });
  // aria-busy until the first positioning (ready): the rows drawn while the chat opens are not yet where they will be.
  const scroller = h('div', { class: 'scroller', role: 'log', tabindex: '0', 'aria-label': 'Messages', 'aria-busy': 'true' }, older, empty, list);
  const jump = h('button', { type: 'button', class: 'jump', hidden: true, onclick: () => toBottom() }, 'Jump to latest');
  const typing = h('div', { class: 'typing', 'aria-live': 'polite' });
  const replyBar = h('div', { class: 'reply-bar', hidden: true });
  const stagedBar = h('div', { class: 'staged', hidden: true, 'aria-live': 'polite' });
  const progress = h('progress', { max: 1, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const PLACEHOLDER = 'Message (Enter sends, Shift+Enter for a new line)';
  const text = h('textarea', { id: 'composer', rows: 1, placeholder: PLACEHOLDER, maxLength: 16000 });
  // The file input is hidden (never focused); the visible Attach button opens it.
  const fileInput = h('input', { type: 'file', id: 'attach', hidden: true, tabindex: '-1', onchange: () => attempt(sendFile) });
  const emoji = emojiPicker((e) => insertAtCaret(e), () => text.focus());
  const mention = mentionBox(text, ctx, atOpen);
  const composer = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); attempt(submit); } },
    h('label', { for: 'composer', class: 'sr-only' }, 'Message'),
    h('button', { type: 'button', class: 'attach', title: 'Attach an image or file', 'aria-label': 'Attach an image or file', onclick: () => fileInput.click() }, 'Attach'),
    fileInput, emoji.toggle, text,
    h('button', { type: 'submit', class: 'primary' }, 'Send'));
  const chat = h('section', { class: 'chat', 'aria-labelledby': 'chat-title' },
    h('div', { class: 'chat-head' }, back, titleAvatar, h('div', { class: 'chat-names' }, title, subtitle), headerExtra, callSlot, muteSlot, searchForm({ conversationId: id, label: 'Search in this conversation' })),
    h('div', { class: 'scroll-wrap' }, scroller, jump), typing, replyBar, stagedBar, progress, mention.list, emoji.panel, composer);
  pane.replaceChildren(chat);

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
  scroller.addEventListener('scroll', () => {
    if (scroller.scrollTop < 40) attempt(loadOlder);
    updateJump();
  });

  // Files pasted into the message box or dropped on the chat are staged: the text becomes their caption.
  text.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.files ?? [])];
    if (!files.length) return;
    e.preventDefault();
    stage(files);
  });
  chat.addEventListener('dragover', (e) => {
    if (![...(e.dataTransfer?.types ?? [])].includes('Files')) return;
    e.preventDefault();
    chat.classList.add('dropping');
  });
  chat.addEventListener('dragleave', (e) => { if (!chat.contains(e.relatedTarget)) chat.classList.remove('dropping'); });
  chat.addEventListener('drop', (e) => {
    chat.classList.remove('dropping');
    const files = [...(e.dataTransfer?.files ?? [])];
    if (!files.length) return;
    e.preventDefault();
    stage(files);
  });

  function stage(files) {
    staged = [...staged, ...files];
    renderStaged();
    text.focus();
  }
  function renderStaged() {
    stagedBar.hidden = !staged.length;
    text.placeholder = staged.length ? 'Add a caption (optional), then Enter to send' : PLACEHOLDER;
    stagedBar.replaceChildren(...(staged.length ? [
      h('span', { class: 'staged-title' }, `${staged.length === 1 ? 'A file' : `${staged.length} files`} to send:`),
      h('ul', { class: 'staged-list' }, staged.map((f, i) => h('li', {}, `${f.name || 'pasted image'} (${size(f.size)})`,
        h('button', { type: 'button', class: 'link', 'aria-label': `Remove ${f.name || 'pasted image'}`, onclick: () => { staged.splice(i, 1); renderStaged(); } }, 'Remove')))),
      h('button', { type: 'button', class: 'link', onclick: () => { staged = []; renderStaged(); } }, 'Cancel'),
    ] : []));
  }

  function insertAtCaret(value) {
    const at = text.selectionStart ?? text.value.length;
    text.value = `${text.value.slice(0, at)}${value}${text.value.slice(text.selectionEnd ?? at)}`;
    text.setSelectionRange(at + value.length, at + value.length);
    text.focus();
    saveDraft();
  }

  async function loadOlder() {
    const c = store.conversations.get(id);
    if (!c?.hasOlder || loadOlder.busy) return;
    loadOlder.busy = true;
    // refresh() keeps the first message in view where it is as earlier ones arrive above it.
    try { await store.loadOlder(id); } finally { loadOlder.busy = false; }
  }

  async function submit() {
    if (staged.length) return sendStaged();
    return sendText();
  }

  async function sendText() {
    const value = text.value;
    if (!value.trim()) return;
    text.value = '';
    const reply = replyTo;
    const mentions = mention.mentions(value);
    setReply(null);
    try {
      await store.send(id, 'text', { text: value }, reply?.seq, mentions); // unreachable server: shown as "Not sent" with Retry
      mention.reset();
    } catch (error) {
      text.value = value; // refused (muted, blocked, ...): nothing is lost, the text goes back for another try
      if (reply && !replyTo) setReply(reply);
      saveDraft();
      throw error;
    }
  }

  async function sendFile() {
    const file = fileInput.files[0];
    fileInput.value = '';
    if (!file) return;
    await sendUpload(file, replyTo?.seq);
    setReply(null);
  }

  async function sendStaged() {
    const files = staged;
    staged = [];
    renderStaged();
    const reply = replyTo;
    for (let i = 0; i < files.length; i++) {
      try { await sendUpload(files[i], i === 0 ? reply?.seq : undefined); } catch (error) {
        staged = files.slice(i); // what was not sent stays staged for another try
        renderStaged();
        throw error;
      }
    }
    setReply(null);
    if (text.value.trim()) await sendText(); // the caption
  }

  /** Uploads a file with progress and sends it as an image, audio, video or file message. */
  async function sendUpload(file, reply) {
    progress.hidden = false; progress.value = 0;
    try {
      const up = await upload(file, (f) => { progress.value = f; });
      const type = up.contentType.startsWith('image/') ? 'image' : up.contentType.startsWith('audio/') ? 'audio' : up.contentType.startsWith('video/') ? 'video' : 'file';
      let content;
      if (type === 'image') content = { fileId: up.id, width: up.width ?? undefined, height: up.height ?? undefined };
      else if (type === 'audio' || type === 'video') {
        const media = await mediaInfo(file, type);
        content = type === 'audio'
          ? { fileId: up.id, durationMs: media.durationMs ?? 0 }
          : { fileId: up.id, durationMs: media.durationMs, width: media.width, height: media.height };
      } else content = { fileId: up.id, name: file.name || up.name || 'file', size: up.size };
      await store.send(id, type, content, reply);
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
    switch (m.type) {
      case 'text': return m.content.text.slice(0, 80);
      case 'image': return 'a photo';
      case 'link': return m.content.title || m.content.url;
      case 'location': return m.content.title ? `a location: ${m.content.title}` : 'a location';
      case 'audio': return 'an audio message';
      case 'video': return 'a video';
      case 'call': return callWords(m.content, m.senderId === me.id).toLowerCase();
      default: return m.content?.name ?? `a ${m.type} message`;
    }
  }

  function body(m) {
    if (m.recalled) return h('em', { class: 'recalled' }, 'This message was recalled.');
    const c = m.content ?? {};
    switch (m.type) {
      case 'text': return h('p', { class: 'text' }, linkify(c.text ?? ''));
      case 'image': {
        const img = h('img', { alt: 'Photo', class: 'thumb', width: thumbSize(c).w, height: thumbSize(c).h });
        fileUrl(c.fileId, true).then((u) => { img.src = u; }, () => fileUrl(c.fileId).then((u) => { img.src = u; }, () => { img.alt = 'Photo (cannot be shown)'; }));
        return h('button', { type: 'button', class: 'thumb-button', 'aria-label': 'Open photo full size', onclick: () => attempt(() => openImage(c.fileId)) }, img);
      }
      case 'file':
        return h('button', { type: 'button', class: 'file', onclick: () => attempt(() => download(c)) }, `📄 ${c.name} (${size(c.size)})`);
      case 'audio': {
        // Small enough to fetch at once; the player needs the bytes as an object URL (media-src blob:).
        const player = h('audio', { controls: true, preload: 'metadata', class: 'audio', 'aria-label': `Audio message${c.durationMs ? `, ${duration(c.durationMs)}` : ''}` });
        fileUrl(c.fileId).then((u) => { player.src = u; }, () => player.replaceWith(h('p', { class: 'recalled' }, 'This audio cannot be played.')));
        return h('div', { class: 'media' }, player);
      }
      case 'video': {
        // Videos can be large: a poster (the thumbnail when there is one) and a button that fetches the video.
        const label = `Play video${c.durationMs ? ` (${duration(c.durationMs)})` : ''}`;
        const poster = h('span', { class: 'poster' });
        fileUrl(c.fileId, true).then((u) => poster.replaceChildren(h('img', { src: u, alt: '', class: 'thumb' })), () => {});
        const play = h('button', { type: 'button', class: 'video-play', onclick: () => attempt(async () => {
          play.disabled = true;
          const url = await fileUrl(c.fileId).finally(() => { play.disabled = false; });
          const video = h('video', { controls: true, autoplay: true, class: 'video', src: url, 'aria-label': 'Video' });
          play.replaceWith(video);
          video.focus();
        }) }, poster, h('span', { class: 'play-label' }, `▶ ${label}`));
        return h('div', { class: 'media' }, play);
      }
      case 'location': {
        const lat = Number(c.latitude), lon = Number(c.longitude);
        const where = `${lat.toFixed(5)}, ${lon.toFixed(5)}`;
        const map = `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`;
        return h('div', { class: 'location' }, h('p', { class: 'text' }, '📍 ', c.title ? h('strong', {}, c.title) : 'Location', ` (${where})`),
          extLink(map, 'Open in a map'));
      }
      case 'link': {
        const href = safeUrl(c.url);
        const host = href ? new URL(href).host : '';
        const img = c.imageFileId ? h('img', { alt: '', class: 'link-img' }) : null;
        if (img) fileUrl(c.imageFileId, true).then((u) => { img.src = u; }, () => img.remove());
        const inner = [img, h('span', { class: 'link-text' }, h('strong', { class: 'link-title' }, c.title || c.url), c.description ? h('span', { class: 'link-desc' }, c.description) : null, h('small', { class: 'link-host' }, host))];
        return href ? extLink(href, inner, { class: 'link-card' }) : h('div', { class: 'link-card' }, inner);
      }
      case 'call': return h('p', { class: 'text call' }, h('span', { 'aria-hidden': 'true' }, c.media === 'video' ? '🎥 ' : '📞 '), h('span', { class: 'call-words' }, callWords(c, m.senderId === me.id)));
      case 'custom': return h('p', { class: 'text recalled' }, 'A custom message (this client does not show its content).');
      default: return h('p', { class: 'text recalled' }, `A ${m.type} message (this client cannot show it).`);
    }
  }

  function receipt(m, c) {
    if (m.senderId !== me.id || c.type !== 'direct') return null;
    const read = c.peerReadSeq >= m.seq;
    return h('span', { class: `receipt ${read ? 'read' : 'sent'}`, 'data-receipt': read ? 'read' : 'sent' }, read ? 'Read' : 'Sent');
  }

  function row(m, c, cont) {
    const mine = m.senderId === me.id;
    const canRecall = !m.recalled && mine && Date.now() - m.sentAt < RECALL_WINDOW_MS;
    const reply = m.replyTo ? store.messages.get(id)?.get(m.replyTo) : null;
    const mentionsMe = m.mentions?.includes(me.id) || (m.mentions?.includes('all') && !mine);
    const sender = mine ? null : senderOf(m.senderId);
    const r = receipt(m, c);
    return h('li', { class: `msg ${mine ? 'mine' : 'theirs'}${cont ? ' cont' : ''}${m.seq === found ? ' found' : ''}${mentionsMe ? ' mentions-me' : ''}`, 'data-seq': m.seq, tabindex: m.seq === found ? '-1' : undefined },
      // A message that continues its sender's group keeps sender and time for screen readers only.
      h('div', { class: 'meta' },
        h('span', { class: 'who' }, !mine && c.type === 'group' ? userAvatar(sender?.user, 's') : null,
          h('span', { class: 'sender' }, mine ? 'You' : sender?.name ?? '…'), ' · ', h('time', { datetime: new Date(m.sentAt).toISOString(), title: new Date(m.sentAt).toLocaleString() }, time(m.sentAt))),
        r ? [h('span', { class: 'sep', 'aria-hidden': 'true' }, ' · '), r] : null),
      m.replyTo ? h('button', { type: 'button', class: 'quote', 'aria-label': `Reply to: ${snippet(reply)}. Show the original`, onclick: () => attempt(() => jumpTo(m.replyTo)) }, 'Reply to: ', snippet(reply)) : null,
      body(m),
      h('div', { class: 'actions' },
        m.recalled ? null : h('button', { type: 'button', class: 'link', onclick: () => setReply(m) }, 'Reply'),
        canRecall ? h('button', { type: 'button', class: 'link', onclick: () => attempt(() => store.recall(id, m.seq)) }, 'Recall') : null,
        h('button', { type: 'button', class: 'link', onclick: () => attempt(() => store.deleteForMe(id, m.seq)) }, 'Delete for me'),
        mine && c.type === 'group' ? h('button', { type: 'button', class: 'link', onclick: () => attempt(() => showReaders(m)) }, 'Seen by') : null));
  }

  // A message not yet stored by the server: "Sending…", or "Not sent" with Retry (the same clientMsgId, so the
  // server stores it once however often it is retried).
  function outgoingRow(o) {
    const failed = o.state === 'failed';
    return h('li', { class: `msg mine outgoing ${o.state}`, 'data-client-msg-id': o.clientMsgId },
      h('div', { class: 'meta' }, h('span', { class: 'sender' }, 'You'), ' · ', h('span', { class: 'out-state', 'data-state': o.state }, failed ? 'Not sent' : 'Sending…')),
      body({ ...o, seq: 0, recalled: false }),
      failed ? h('div', { class: 'out-actions' },
        h('span', { class: 'out-error' }, o.error?.message ?? ''),
        h('button', { type: 'button', class: 'link', onclick: () => attempt(() => store.retry(o.clientMsgId)) }, 'Retry'),
        h('button', { type: 'button', class: 'link', onclick: () => store.discard(o.clientMsgId) }, 'Discard')) : null);
  }

  async function showReaders(m) {
    const r = await api('GET', `/api/conversations/${id}/messages/${m.seq}/receipts`);
    const named = (ids) => Promise.all(ids.map((u) => store.user(u).then((x) => displayName(x), () => 'someone')));
    const [read, unread] = await Promise.all([named(r.readBy), named(r.unreadBy)]);
    toast(seenWords(read, unread), 'notice');
  }

  /** Shows a message (a quote's original), loading earlier pages when it is not held yet. */
  async function jumpTo(seq) {
    if (!rows.has(`m${seq}`)) await store.loadBack(id, seq);
    if (pane.refresh !== refresh) return;
    found = seq;
    // Clicked while the chat was still opening: this is the reader's place now, which opening leaves alone.
    if (!ready) settle(unreadFrom ? unreadFrom - 1 : store.conversations.get(id)?.maxSeq ?? 0);
    refresh();
    const el = rows.get(`m${seq}`)?.el;
    if (!el) { toast('That message is no longer in this conversation.', 'notice'); return; }
    el.scrollIntoView({ block: 'center' });
    el.focus({ preventScroll: true });
    updateJump();
  }

  // Senders' names and avatars (a friend's remark first). The store's profile is asked on every refresh (a map
  // lookup): when it holds a newer one (a profile change, user.updated), the sender's rows are rebuilt with it.
  const senders = new Map(); // userId -> {promise, value: {user, name} | null}
  function senderOf(userId) {
    const promise = store.user(userId);
    let s = senders.get(userId);
    if (!s || s.promise !== promise) {
      const entry = { promise, value: s?.value ?? null };
      senders.set(userId, entry);
      s = entry;
      promise.then((u) => {
        if (senders.get(userId) !== entry) return;
        entry.value = { user: u, name: displayName(u, store.friends.find((f) => f.user.id === userId)?.remark) };
        if (pane.refresh === refresh) refresh();
      }, () => { entry.value = { user: null, name: 'Someone' }; });
    }
    return s.value;
  }

  const distanceFromBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight;
  function toBottom() {
    scroller.scrollTop = scroller.scrollHeight;
    updateJump();
  }
  function updateJump() {
    const c = store.conversations.get(id);
    if (distanceFromBottom() < NEAR_BOTTOM_PX) { newBelow = 0; lastSeenSeq = Math.max(lastSeenSeq, c?.maxSeq ?? 0); }
    const far = distanceFromBottom() > scroller.clientHeight;
    jump.hidden = !(newBelow > 0 || far);
    jump.textContent = newBelow > 0 ? `${newBelow} new message${newBelow === 1 ? '' : 's'} ↓` : 'Jump to latest ↓';
  }

  /** Where the reader is: at the bottom, or the first message in view and its offset from the top. */
  function capture() {
    if (!ready) return null;
    if (distanceFromBottom() < NEAR_BOTTOM_PX) return { atBottom: true };
    const top = scroller.getBoundingClientRect().top;
    for (const [key, entry] of rows) {
      if (!key.startsWith('m')) continue;
      const r = entry.el.getBoundingClientRect();
      if (r.bottom > top) return { key, offset: r.top - top, seq: Number(key.slice(1)) };
    }
    return null;
  }
  function restore(view) {
    if (!view) return;
    if (view.atBottom) { scroller.scrollTop = scroller.scrollHeight; return; }
    const el = rows.get(view.key)?.el;
    if (el?.isConnected) scroller.scrollTop += el.getBoundingClientRect().top - scroller.getBoundingClientRect().top - view.offset;
  }

  function refresh() {
    const c = store.conversations.get(id);
    if (!c) return;
    const view = capture();
    const name = c.type === 'direct' ? displayName(c.peer, store.friends.find((f) => f.user.id === c.peer?.id)?.remark) : c.group?.name;
    const online = c.type === 'direct' ? store.presence.get(c.peer?.id) : null;
    const seenAt = c.type === 'direct' ? ctx.lastSeen?.get(c.peer?.id) : null;
    const hs = `${name}|${c.peer?.avatarFileId ?? c.group?.avatarFileId}|${online}|${seenAt}`;
    if (hs !== headSig) {
      headSig = hs;
      title.replaceChildren(name ?? '');
      titleAvatar.replaceChildren(conversationAvatar(c, 'm', name));
      subtitle.textContent = c.type === 'direct' ? (online ? 'online' : seenAt ? lastSeenWords(seenAt) : 'offline') : 'group';
      headerExtra.replaceChildren(c.type === 'direct'
        ? presenceDot(online)
        : h('a', { href: `#/groups/${c.group.id}`, class: 'button' }, 'Members'));
    }
    if (c.type === 'direct' && ctx.calls && !callSlot.firstChild) callSlot.replaceChildren(ctx.calls.buttons(c));
    const sig = `${c.muted}|${muteUntil(ctx, id)}`;
    if (sig !== muteSig) { muteSig = sig; muteSlot.replaceChildren(muteSelect(ctx, id)); }
    older.hidden = !c.hasOlder;
    const messages = [...(store.messages.get(id)?.values() ?? [])].sort((a, b) => a.seq - b.seq);
    empty.hidden = messages.length > 0 || c.hasOlder || !opened;

    // The rows wanted, in order: a separator per day, the unread divider, the messages (grouped by sender and minute).
    const wanted = [];
    let prev = null, prevDay = null, divider = false;
    for (const m of messages) {
      const day = new Date(m.sentAt).toDateString();
      if (day !== prevDay) {
        const label = dayLabel(m.sentAt);
        wanted.push({ key: `d${day}`, sig: label, build: () => h('li', { class: 'day' }, h('span', {}, label)) });
        prevDay = day; prev = null;
      }
      if (unreadFrom && !divider && m.seq >= unreadFrom && m.senderId !== me.id) {
        wanted.push({ key: 'unread', sig: '', build: () => h('li', { class: 'unread-divider', id: 'unread-divider' }, h('span', {}, 'New messages')) });
        divider = true; prev = null;
      }
      const cont = !!prev && prev.senderId === m.senderId && !prev.recalled && Math.floor(prev.sentAt / 60_000) === Math.floor(m.sentAt / 60_000);
      const sender = m.senderId === me.id ? null : senderOf(m.senderId);
      const rowSig = `${m.seq === found}|${m.recalled}|${c.peerReadSeq >= m.seq}|${m.replyTo ? !!store.messages.get(id)?.get(m.replyTo) : ''}|${Date.now() - m.sentAt < RECALL_WINDOW_MS}|${cont}|${sender?.name}|${sender?.user?.avatarFileId}`;
      wanted.push({ key: `m${m.seq}`, sig: rowSig, build: () => row(m, c, cont) });
      prev = m;
    }
    const keep = new Set();
    let at = null;
    for (const w of wanted) {
      keep.add(w.key);
      let entry = rows.get(w.key);
      if (!entry || entry.sig !== w.sig) {
        const el = w.build();
        if (entry) entry.el.replaceWith(el);
        entry = { el, sig: w.sig };
        rows.set(w.key, entry);
      }
      const want = at ? at.nextSibling : list.firstChild;
      if (want !== entry.el) list.insertBefore(entry.el, want);
      at = entry.el;
    }
    for (const [key, entry] of rows) if (!keep.has(key)) { entry.el.remove(); rows.delete(key); }

    const waiting = new Set();
    for (const o of store.pending(id)) {
      waiting.add(o.clientMsgId);
      let entry = outRows.get(o.clientMsgId);
      if (!entry || entry.sig !== o.state) {
        const el = outgoingRow(o);
        if (entry) entry.el.replaceWith(el);
        entry = { el, sig: o.state };
        outRows.set(o.clientMsgId, entry);
      }
      const want = at ? at.nextSibling : list.firstChild;
      if (want !== entry.el) list.insertBefore(entry.el, want);
      at = entry.el;
    }
    for (const [key, entry] of outRows) if (!waiting.has(key)) { entry.el.remove(); outRows.delete(key); }
    const typers = [...c.typing.keys()].map((u) => senderOf(u)?.name ?? 'Someone');
    typing.textContent = typers.length ? `${typers.join(', ')} ${typers.length > 1 ? 'are' : 'is'} typing…` : '';
    if (!ready) { scroller.scrollTop = scroller.scrollHeight; return; }
    // New messages from others while the reader is up in the history are counted on the "jump" button.
    const newest = messages.at(-1)?.seq ?? 0;
    if (view && !view.atBottom) newBelow = messages.filter((m) => m.seq > lastSeenSeq && m.senderId !== me.id).length;
    restore(view);
    if (view?.atBottom) lastSeenSeq = Math.max(lastSeenSeq, newest);
    updateJump();
  }

  /** The first positioning is done: later refreshes keep the reader's place. @param {number} seenUpTo */
  function settle(seenUpTo) {
    ready = true;
    scroller.setAttribute('aria-busy', 'false');
    lastSeenSeq = seenUpTo;
  }

  pane.refresh = refresh;
  attempt(async () => {
    await store.open(id);
    if (focusSeq) await store.loadBack(id, focusSeq);
  }).then(() => {
    if (pane.refresh !== refresh) return;
    opened = true;
    if (draft?.replyTo && !replyTo) setReply(store.messages.get(id)?.get(draft.replyTo) ?? { seq: draft.replyTo }, { focus: false });
    if (ready) { refresh(); return; } // the reader jumped to a quote meanwhile (jumpTo): they stay there
    // Opened from a search result: that message marked (in every rebuild of its row, a receipt changing it say),
    // in view, and kept in view by later refreshes. Opened with unread messages: the divider at the top.
    found = focusSeq;
    refresh();
    const target = focusSeq ? rows.get(`m${focusSeq}`)?.el : null;
    const divider = rows.get('unread')?.el;
    if (target) {
      target.scrollIntoView({ block: 'center' });
      target.focus({ preventScroll: true });
    } else {
      if (focusSeq) toast('That message is no longer in this conversation.', 'notice');
      if (divider) divider.scrollIntoView({ block: 'start' });
      else scroller.scrollTop = scroller.scrollHeight;
      // The message box gets the focus, unless the reader already moved it into the chat (the emoji picker, say)
      // while the first page was loading.
      if (!chat.contains(document.activeElement)) text.focus({ preventScroll: true });
    }
    settle(target || divider ? (unreadFrom ?? 1) - 1 : store.conversations.get(id)?.maxSeq ?? 0);
    updateJump();
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

/** Duration and size of an audio or video file, read by the browser from the file itself (0/undefined if it cannot). */
function mediaInfo(file, type) {
  return new Promise((resolve) => {
    const el = document.createElement(type);
    const url = URL.createObjectURL(file);
    const done = (info) => { URL.revokeObjectURL(url); resolve(info); };
    const timer = setTimeout(() => done({}), 5000);
    el.preload = 'metadata';
    el.onloadedmetadata = () => {
      clearTimeout(timer);
      done({ durationMs: Number.isFinite(el.duration) ? Math.round(el.duration * 1000) : undefined, width: el.videoWidth || undefined, height: el.videoHeight || undefined });
    };
    el.onerror = () => { clearTimeout(timer); done({}); };
    el.src = url;
  });
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
