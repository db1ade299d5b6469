// One-to-one audio and video calls (docs/calls.md): the call buttons of a direct chat's header, the incoming-call
// dialog (Accept / Decline; it stops ringing when another device answers), the in-call view (mute, camera on/off,
// hang up, the running duration) and the WebRTC side: an RTCPeerConnection with the servers of
// GET /api/calls/ice-servers, the caller's offer after the callee accepted, the callee's answer, trickled ICE
// candidates, all as call.signal frames that Parley relays between the two devices. The outcome the server writes
// as a `call` message is shown by the chat itself (ui/dom.js, callWords). Errors are said in plain words.
//
// Signal data (relayed verbatim by Parley): {kind: "offer" | "answer", sdp} and {kind: "candidate", candidate}.
// Relay only (Profile, `parley.callsRelayOnly.<userId>` = "on" in localStorage): iceTransportPolicy "relay", so the
// other side sees the TURN server's address, never this device's.

import { api } from '../sdk/api.js';
import { h, toast, displayName, duration } from './dom.js';
import { userAvatar } from './avatar.js';
import { notificationsOn } from './notify.js';

const relayKey = (ctx) => `parley.callsRelayOnly.${ctx.me.id}`;
/** Whether calls of this user in this browser go through the TURN relay only (hiding the IP address). */
export const relayOnly = (ctx) => localStorage.getItem(relayKey(ctx)) === 'on';
export function setRelayOnly(ctx, on) {
  if (on) localStorage.setItem(relayKey(ctx), 'on');
  else localStorage.removeItem(relayKey(ctx));
}

const mediaWords = (media) => (media === 'video' ? 'video call' : 'audio call');

/** The plain words for a getUserMedia failure. */
export function mediaError(error, media) {
  const what = media === 'video' ? 'microphone and camera' : 'microphone';
  switch (error?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `Parley can't use your ${what}: allow it in the browser's site settings (the icon beside the address), then call again.`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return media === 'video' ? 'No microphone or camera found. Connect one and try again, or make an audio call.' : 'No microphone found. Connect one and try again.';
    case 'NotReadableError':
    case 'AbortError':
      return `Your ${what} could not be started: another app may be using it. Close that app and try again.`;
    default:
      return `Parley can't use your ${what} (${error?.message || 'the browser refused'}).`;
  }
}

/** The plain words for a refused call.invite / call.accept. */
function refusalWords(error, name) {
  switch (error?.code) {
    case 'not_friends': return `You can only call people who are your friends. ${name} is not your friend.`;
    case 'blocked': return `${name} has blocked you, so you cannot call them.`;
    case 'conflict': return 'You are already in a call on this device.';
    case 'rate_limited': return 'You are calling too often. Wait a moment and try again.';
    case 'unavailable': return 'The server cannot take more calls right now. Try again later.';
    case 'not_found': return 'That call or conversation no longer exists.';
    case 'invalid': return 'Calls are for direct conversations only.';
    default:
      if (!error?.code) return 'Cannot reach the server, so the call could not start. Check your connection.';
      return error.message || 'The call could not start.';
  }
}

export class Calls {
  /** @type {null | {callId: string | null, role: 'caller' | 'callee', media: string, conversationId: string, peerId: string, name: string, state: string, pc: RTCPeerConnection | null, local: MediaStream | null, remote: MediaStream, queued: any[], acceptedAt: number | null, connected: boolean, micOff: boolean, cameraOff: boolean}} */
  current = null;

  constructor(ctx) {
    this.ctx = ctx;
    this.dialog = h('dialog', { id: 'call-dialog', class: 'call-dialog', 'aria-labelledby': 'call-title' });
    // Escape would close the dialog behind the call's back: the buttons end a call, never a key alone.
    this.dialog.addEventListener('cancel', (e) => e.preventDefault());
    // The browser may close it anyway (a second Escape without a click between): ringing, that is a decline; a call
    // in progress keeps its panel.
    this.ownCloses = 0; // closes of ours whose (asynchronous) close event is still to come
    this.dialog.addEventListener('close', () => {
      if (this.ownCloses > 0) { this.ownCloses--; return; }
      if (!this.current) return;
      if (this.current.state === 'incoming') this.decline();
      else this.#render();
    });
    document.body.append(this.dialog);
    this.clock = null;
    this.returnFocus = null;
    // Tabs of one browser share a session (one device): a tab that answers or declines tells the others, which stop
    // ringing (the server's answered_elsewhere goes to the callee's other devices only).
    this.channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(`parley.calls.${ctx.me.id}`) : null;
    if (this.channel) this.channel.onmessage = (e) => this.#fromOtherTab(e.data);
    this.onPageHide = () => { if (this.current?.callId) this.#send('call.hangup'); };
    window.addEventListener('pagehide', this.onPageHide);
  }

  /** Logout: a call in progress is hung up (a ringing one declined) before the socket goes. */
  stop() {
    const call = this.current;
    if (call?.callId) this.#send(call.role === 'callee' && call.state === 'incoming' ? 'call.reject' : 'call.hangup');
    if (call) this.#finish(null);
    window.removeEventListener('pagehide', this.onPageHide);
    this.channel?.close();
    this.dialog.remove();
  }

  /** The header's call buttons for a direct conversation. */
  buttons(conversation) {
    const peerName = () => displayName(conversation.peer, this.ctx.store.friends.find((f) => f.user.id === conversation.peer?.id)?.remark);
    const button = (media, icon, text) => h('button', {
      type: 'button', class: `call-start ${media}`, 'aria-label': media === 'video' ? 'Video call' : 'Audio call',
      title: `${media === 'video' ? 'Video call' : 'Audio call'} with ${peerName()}`,
      onclick: (e) => { this.returnFocus = e.currentTarget; this.start(conversation.id, conversation.peer?.id, peerName(), media); },
    }, h('span', { 'aria-hidden': 'true' }, icon), ' ', text);
    return h('span', { class: 'call-buttons' }, button('audio', '📞', 'Call'), button('video', '🎥', 'Video'));
  }

  // ---- the caller ----

  /** Calls the peer of a direct conversation. */
  async start(conversationId, peerId, name, media) {
    if (this.current) { toast(this.current.state === 'incoming' ? 'Answer or decline the incoming call first.' : 'You are already in a call.'); return; }
    const call = this.#newCall('caller', media, conversationId, peerId, name, 'starting');
    const ice = await this.#prepare(call);
    if (!ice) return;
    this.#peer(call, ice);
    call.state = 'outgoing';
    this.#render();
    // The call id is set the moment the answer is in (a .then on the request, before the socket reads a next
    // frame): a call.ended busy/unavailable that follows call.invited at once finds it.
    try {
      await this.ctx.socket.request({ type: 'call.invite', conversationId, media }).then((f) => { call.callId = f.callId; });
    } catch (error) {
      if (this.current === call) this.#finish(null);
      toast(refusalWords(error, name));
      return;
    }
    if (this.current === call && call.early) this.#ended(call.early);
  }

  // ---- frames ----

  /** Every socket frame that is not an answer (app.js). */
  onFrame(frame) {
    if (!frame.type?.startsWith('call.')) return;
    const call = this.current;
    switch (frame.type) {
      case 'call.ring': this.#ring(frame); break;
      case 'call.accepted':
        if (call?.callId === frame.callId && call.role === 'caller') this.#accepted(call);
        break;
      case 'call.signal':
        if (call?.callId === frame.callId && call.pc) this.#signal(call, frame.data).catch((e) => this.#failed(call, e));
        break;
      case 'call.ended':
        if (call && call.callId === frame.callId) this.#ended(frame);
        else if (call && call.role === 'caller' && call.callId === null) call.early = frame; // the invite's answer is on its way
        break;
    }
  }

  /** Errors of call frames sent without waiting (their ref starts with "call:"); app.js leaves them to us. */
  onError(frame) {
    const call = this.current;
    const [, action, callId] = String(frame.ref).split(':');
    if (!call || call.callId !== callId) return;
    if (action === 'accept') {
      this.#finish(null);
      toast(frame.code === 'conflict' ? 'That call was answered on another device, or you are in another call.' : 'That call has ended.', 'notice');
    } else if (action === 'signal' && frame.code !== 'rate_limited') {
      this.#failed(call, new Error(frame.message));
    }
  }

  async #ring(frame) {
    if (this.current) return; // this device is in a call (the server rings a user in no other call; a second tab may be)
    const call = this.#newCall('callee', frame.media, frame.conversationId, frame.from, '…', 'incoming');
    call.callId = frame.callId;
    this.returnFocus = document.activeElement;
    this.#render();
    const user = await this.ctx.store.user(frame.from).catch(() => null);
    if (this.current !== call) return;
    call.user = user;
    call.name = displayName(user, this.ctx.store.friends.find((f) => f.user.id === frame.from)?.remark);
    this.#render();
    // With desktop notifications on (Profile) and the tab not in view, the call is announced there too.
    if (notificationsOn(this.ctx) && (document.visibilityState !== 'visible' || !document.hasFocus())) {
      const n = new Notification(`${call.name} is calling`, { body: `Incoming ${mediaWords(call.media)}`, tag: `parley-call-${call.callId}` });
      n.onclick = () => { window.focus(); n.close(); };
      call.notification = n;
    }
  }

  async accept() {
    const call = this.current;
    if (!call || call.state !== 'incoming') return;
    call.state = 'answering';
    this.#render();
    // Without a microphone the call cannot go on: it is declined, and the reason said here.
    const ice = await this.#prepare(call, () => this.#send('call.reject'));
    if (!ice) return;
    this.#peer(call, ice);
    call.acceptedAt = Date.now();
    call.state = 'connecting';
    this.#send('call.accept');
    this.channel?.postMessage({ done: call.callId });
    this.#render();
  }

  decline() {
    const call = this.current;
    if (!call || call.state !== 'incoming') return;
    this.#send('call.reject');
    this.channel?.postMessage({ done: call.callId });
    this.#finish(null);
  }

  hangup() {
    const call = this.current;
    if (!call) return;
    if (call.callId) this.#send(call.role === 'callee' && call.state === 'incoming' ? 'call.reject' : 'call.hangup');
    this.#finish(call.connected || call.acceptedAt ? { text: `Call with ${call.name} ended${call.acceptedAt ? ` (${duration(Date.now() - call.acceptedAt)})` : ''}.`, kind: 'notice' } : null);
  }

  #fromOtherTab(data) {
    const call = this.current;
    if (call?.role === 'callee' && call.state === 'incoming' && call.callId === data?.done) this.#finish({ text: 'Answered in another tab.', kind: 'notice' });
  }

  async #accepted(call) {
    call.acceptedAt = Date.now();
    call.state = 'connecting';
    this.#render();
    try {
      const offer = await call.pc.createOffer();
      await call.pc.setLocalDescription(offer);
      this.#send('call.signal', { data: { kind: 'offer', sdp: call.pc.localDescription.sdp } });
    } catch (error) { this.#failed(call, error); }
  }

  async #signal(call, data) {
    const pc = call.pc;
    if (data?.kind === 'offer' && call.role === 'callee') {
      await pc.setRemoteDescription({ type: 'offer', sdp: data.sdp });
      await this.#flush(call);
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      this.#send('call.signal', { data: { kind: 'answer', sdp: pc.localDescription.sdp } });
    } else if (data?.kind === 'answer' && call.role === 'caller') {
      await pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
      await this.#flush(call);
    } else if (data?.kind === 'candidate' && data.candidate) {
      if (pc.remoteDescription) await pc.addIceCandidate(data.candidate);
      else call.queued.push(data.candidate); // before the offer/answer is in
    }
  }

  async #flush(call) {
    const queued = call.queued.splice(0);
    for (const c of queued) await call.pc.addIceCandidate(c);
  }

  #ended(frame) {
    const call = this.current;
    const name = call.name;
    const ringing = call.state === 'incoming' || call.state === 'answering';
    const took = call.acceptedAt ? ` (${duration(Date.now() - call.acceptedAt)})` : '';
    const caller = call.role === 'caller';
    let outcome = null;
    switch (frame.reason) {
      case 'rejected': outcome = caller ? { text: `${name} declined the call.`, kind: 'error' } : null; break;
      case 'busy': outcome = { text: `${name} is in another call. Try again later.`, kind: 'error' }; break;
      case 'unavailable': outcome = { text: `${name} is not online, so the call could not ring. They will see that you called.`, kind: 'error' }; break;
      case 'timeout': outcome = caller ? { text: `${name} did not answer.`, kind: 'error' } : { text: `You missed a call from ${name}.`, kind: 'notice' }; break;
      case 'answered_elsewhere': outcome = { text: 'Answered on another device.', kind: 'notice' }; break;
      case 'disconnected': outcome = { text: `The call with ${name} was cut off: a connection was lost${took}.`, kind: 'error' }; break;
      default: // hangup
        outcome = !caller && ringing ? { text: `You missed a call from ${name}.`, kind: 'notice' }
          : caller && !call.acceptedAt ? null
            : { text: `${name} ended the call${took}.`, kind: 'notice' };
    }
    this.#finish(outcome);
  }

  #failed(call, error) {
    if (this.current !== call) return;
    if (call.callId) this.#send('call.hangup');
    this.#finish({ text: `The call with ${call.name} failed: ${error?.message || 'the connection could not be made'}.`, kind: 'error' });
  }

  // ---- media and the peer connection ----

  /**
   * The microphone (and camera) and the ICE servers, at once; null when either failed (said in plain words, the
   * call ended, `onFail` run first) or the call ended meanwhile. A stream got before the other failed is stopped.
   */
  async #prepare(call, onFail = () => {}) {
    const [media, ice] = await Promise.allSettled([this.#media(call.media), this.#iceServers()]);
    if (media.status === 'fulfilled') call.local = media.value;
    if (this.current !== call) { call.local?.getTracks().forEach((t) => t.stop()); return null; }
    const failed = media.status === 'rejected' ? media.reason : ice.status === 'rejected' ? ice.reason : null;
    if (failed) {
      onFail();
      this.#finish(null);
      toast(failed.message);
      return null;
    }
    return ice.value;
  }

  async #media(media) {
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new Error('This browser cannot make calls here: calls need a secure connection (https) and a browser with WebRTC.');
    }
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: true, video: media === 'video' });
    } catch (error) {
      throw new Error(mediaError(error, media));
    }
  }

  async #iceServers() {
    const answer = await api('GET', '/api/calls/ice-servers');
    const servers = answer.iceServers ?? [];
    if (relayOnly(this.ctx) && !servers.some((s) => s.username && [].concat(s.urls).some((u) => /^turns?:/.test(u)))) {
      throw new Error('Your calls are set to go through a relay only (Profile), but this server has no relay (TURN) configured. Turn that setting off to call directly.');
    }
    return servers;
  }

  #peer(call, iceServers) {
    const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: relayOnly(this.ctx) ? 'relay' : 'all' });
    call.pc = pc;
    for (const track of call.local.getTracks()) pc.addTrack(track, call.local);
    pc.onicecandidate = (e) => { if (e.candidate && this.current === call) this.#send('call.signal', { data: { kind: 'candidate', candidate: e.candidate.toJSON() } }); };
    pc.ontrack = (e) => {
      if (!call.remote.getTracks().includes(e.track)) call.remote.addTrack(e.track);
      this.#attachRemote();
    };
    pc.onconnectionstatechange = () => {
      if (this.current !== call) return;
      const s = pc.connectionState;
      if (s === 'connected') { call.connected = true; call.state = 'active'; }
      else if (s === 'disconnected' && call.connected) call.state = 'reconnecting';
      else if (s === 'failed') { this.#failed(call, new Error(relayOnly(this.ctx) ? 'no route through the relay' : 'no route between you (the server may need a TURN relay)')); return; }
      this.#render();
    };
  }

  toggleMic() {
    const call = this.current;
    if (!call?.local) return;
    call.micOff = !call.micOff;
    for (const t of call.local.getAudioTracks()) t.enabled = !call.micOff;
    this.#render();
  }

  toggleCamera() {
    const call = this.current;
    if (!call?.local) return;
    call.cameraOff = !call.cameraOff;
    for (const t of call.local.getVideoTracks()) t.enabled = !call.cameraOff;
    this.#render();
  }

  // ---- plumbing ----

  #newCall(role, media, conversationId, peerId, name, state) {
    this.current = {
      callId: null, role, media, conversationId, peerId, name, state, pc: null, local: null, remote: new MediaStream(),
      queued: [], acceptedAt: null, connected: false, micOff: false, cameraOff: false, early: null, user: null, notification: null,
    };
    return this.current;
  }

  /** A call frame sent without waiting; a refusal comes back as an error whose ref names it (onError). */
  #send(type, extra = {}) {
    const call = this.current;
    if (!call?.callId) return;
    this.ctx.socket.send({ type, ref: `call:${type.slice(5)}:${call.callId}`, callId: call.callId, ...extra });
  }

  #finish(outcome) {
    const call = this.current;
    this.current = null;
    if (call) {
      call.notification?.close();
      call.pc?.close();
      call.local?.getTracks().forEach((t) => t.stop());
    }
    clearInterval(this.clock);
    this.clock = null;
    if (this.dialog.open) { this.ownCloses++; this.dialog.close(); }
    this.dialog.replaceChildren();
    this.dialog.removeAttribute('data-state');
    const back = this.returnFocus;
    this.returnFocus = null;
    if (back?.isConnected) back.focus();
    if (outcome) toast(outcome.text, outcome.kind);
  }

  #attachRemote() {
    const el = this.dialog.querySelector('.call-remote');
    if (el && el.srcObject !== this.current?.remote) el.srcObject = this.current.remote;
  }

  /** Draws the dialog for the current state (incoming, outgoing, connecting, active, reconnecting). */
  #render() {
    const call = this.current;
    if (!call) return;
    const d = this.dialog;
    const video = call.media === 'video';
    const focusInside = d.contains(document.activeElement);
    const focusBefore = focusInside ? document.activeElement.dataset.key : null;
    d.dataset.state = call.state;
    d.dataset.media = call.media;
    const title = h('h2', { id: 'call-title' });
    const status = h('p', { class: 'call-status', id: 'call-status', role: 'status' });
    const button = (key, attrs, ...text) => h('button', { type: 'button', 'data-key': key, ...attrs }, ...text);
    let body;
    if (call.state === 'incoming' || call.state === 'answering') {
      title.textContent = `${call.name} is calling`;
      status.textContent = call.state === 'answering' ? 'Answering…' : `Incoming ${mediaWords(call.media)}`;
      body = [
        h('div', { class: 'call-who' }, userAvatar(call.user ?? { id: call.peerId, nickname: call.name }, 'l')),
        status,
        h('div', { class: 'call-actions' },
          button('accept', { class: 'primary call-accept', disabled: call.state === 'answering', onclick: () => this.accept() }, `Accept ${video ? 'video' : 'audio'}`),
          button('decline', { class: 'danger call-decline', disabled: call.state === 'answering', onclick: () => this.decline() }, 'Decline')),
      ];
    } else {
      title.textContent = `${video ? 'Video call' : 'Call'} with ${call.name}`;
      const clock = h('span', { class: 'call-clock', role: 'timer', 'aria-label': 'Call duration' });
      status.textContent = { starting: 'Starting…', outgoing: 'Calling…', connecting: 'Connecting…', reconnecting: 'Reconnecting…', active: 'Connected' }[call.state] ?? '';
      const remote = video
        ? h('video', { class: 'call-remote', autoplay: true, playsInline: true, 'aria-label': `${call.name}'s video` })
        : h('audio', { class: 'call-remote', autoplay: true });
      const local = video ? h('video', { class: 'call-local', autoplay: true, playsInline: true, muted: true, 'aria-label': 'Your camera' }) : null;
      body = [
        video ? h('div', { class: 'call-stage' }, remote, local) : [h('div', { class: 'call-who' }, userAvatar(call.user ?? { id: call.peerId, nickname: call.name }, 'l')), remote],
        h('p', { class: 'call-time' }, status, ' ', clock),
        h('div', { class: 'call-actions' },
          button('mic', { class: 'call-mic', 'aria-pressed': String(call.micOff), disabled: !call.local, onclick: () => this.toggleMic() }, call.micOff ? 'Unmute microphone' : 'Mute microphone'),
          video ? button('camera', { class: 'call-camera', 'aria-pressed': String(call.cameraOff), disabled: !call.local, onclick: () => this.toggleCamera() }, call.cameraOff ? 'Turn camera on' : 'Turn camera off') : null,
          button('hangup', { class: 'danger call-hangup', onclick: () => this.hangup() }, call.state === 'outgoing' || call.state === 'starting' ? 'Cancel call' : 'Hang up')),
      ];
      if (local) local.srcObject = call.local;
      clearInterval(this.clock);
      const tick = () => { clock.textContent = call.acceptedAt && call.connected ? duration(Date.now() - call.acceptedAt) : ''; };
      tick();
      this.clock = setInterval(tick, 1000);
    }
    d.replaceChildren(title, ...body.flat());
    this.#attachRemote();
    // Ringing is modal (it wants an answer); a call in progress leaves the chat usable (a panel; full screen on a phone).
    const modal = call.state === 'incoming' || call.state === 'answering';
    if (d.open && modal !== d.matches(':modal')) { this.ownCloses++; d.close(); }
    const opening = !d.open;
    if (opening) { if (modal) d.showModal(); else d.show(); }
    // Focus goes into the dialog when it opens, and stays on its button across redraws; someone typing in the chat
    // during a call keeps their focus.
    if (!opening && !focusInside) return;
    const again = focusBefore && d.querySelector(`[data-key="${focusBefore}"]:not([disabled])`);
    (again || d.querySelector(modal ? '.call-accept' : '.call-hangup'))?.focus();
  }
}
