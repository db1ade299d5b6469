// Profile: nickname, bio, tags and avatar; desktop notifications, calls (relay only) and email.

import { api, upload, fileUrl } from '../sdk/api.js';
import { h, toast, attempt, field } from './dom.js';
import { relayOnly, setRelayOnly } from './calls.js';
import { notificationsSupported, notificationsOn, enableNotifications, disableNotifications } from './notify.js';

export async function renderProfile(pane, ctx, back) {
  pane.refresh = null;
  const me = await api('GET', '/api/users/me').catch((e) => { toast(e.message); return ctx.me; });
  let avatarFileId = me.avatarFileId;
  const avatar = h('img', { class: 'avatar', alt: 'Your avatar', width: 96, height: 96 });
  const showAvatar = () => { if (avatarFileId) fileUrl(avatarFileId, true).then((u) => { avatar.src = u; }, () => {}); };
  showAvatar();
  // The picked image's upload: a save waits for it (a picture picked and saved at once was left out of the profile).
  let uploading = Promise.resolve();
  const pick = h('input', { type: 'file', id: 'avatar-file', accept: 'image/*', onchange: () => { uploading = attempt(async () => {
    const file = pick.files[0];
    if (!file) return;
    const up = await upload(file);
    if (!up.contentType.startsWith('image/')) throw new Error('An avatar must be an image.');
    avatarFileId = up.id;
    showAvatar();
  }); } });
  const form = h('form', { class: 'card', 'aria-labelledby': 'profile-title', onsubmit: (e) => { e.preventDefault(); attempt(save); } },
    h('h1', { id: 'profile-title' }, 'Your profile'),
    h('p', {}, `Username: ${me.username}`),
    avatar,
    h('div', { class: 'field' }, h('label', { for: 'avatar-file' }, 'Avatar image'), pick),
    field('Nickname', { name: 'nickname', value: me.nickname, required: true, maxLength: 64 }),
    field('Bio', { name: 'bio', value: me.bio ?? '', multiline: true, maxLength: 500, rows: 3 }),
    field('Tags (comma separated)', { name: 'tags', value: (me.tags ?? []).join(', ') }),
    h('button', { type: 'submit', class: 'primary' }, 'Save profile'));
  form.querySelector('textarea').value = me.bio ?? '';

  async function save() {
    await uploading;
    const d = new FormData(form);
    const tags = d.get('tags').split(',').map((t) => t.trim()).filter(Boolean);
    const updated = await api('PATCH', '/api/users/me', { nickname: d.get('nickname').trim(), bio: d.get('bio') || null, tags, avatarFileId: avatarFileId ?? null });
    ctx.me = { ...ctx.me, ...updated };
    ctx.onMeChanged?.(); // the header's avatar
    toast('Profile saved.', 'notice');
  }

  pane.replaceChildren(h('section', { class: 'page' }, back, form, notificationsCard(ctx), callsCard(ctx), emailCard(me, ctx)));
}

// Desktop notifications (ui/notify.js): off until turned on here, which asks the browser's permission.
function notificationsCard(ctx) {
  const state = h('p', { id: 'notify-state', role: 'status' });
  const button = h('button', { type: 'button', id: 'notify-toggle' });
  const show = () => {
    if (!notificationsSupported()) { state.textContent = 'This browser cannot show desktop notifications.'; button.hidden = true; return; }
    const on = notificationsOn(ctx);
    state.textContent = on
      ? 'On: a notification for each new message in a conversation you are not looking at (muted ones excepted).'
      : Notification.permission === 'denied' ? 'Off: this browser blocks notifications for this site (change that in its site settings).' : 'Off.';
    button.textContent = on ? 'Turn off desktop notifications' : 'Turn on desktop notifications';
    button.hidden = !on && Notification.permission === 'denied';
  };
  button.addEventListener('click', () => attempt(async () => {
    if (notificationsOn(ctx)) disableNotifications(ctx);
    else if (!await enableNotifications(ctx)) toast('The browser did not allow notifications.', 'notice');
    show();
  }));
  show();
  return h('div', { class: 'card', role: 'group', 'aria-labelledby': 'notify-title' }, h('h2', { id: 'notify-title' }, 'Desktop notifications'), state, button);
}

// Calls (ui/calls.js, docs/calls.md "Privacy"): relay only hides this device's IP address from the other side.
function callsCard(ctx) {
  const box = h('input', { type: 'checkbox', id: 'calls-relay', checked: relayOnly(ctx), onchange: () => {
    setRelayOnly(ctx, box.checked);
    toast(box.checked ? 'Your calls now go through the server\'s relay only.' : 'Your calls may now connect directly.', 'notice');
  } });
  return h('div', { class: 'card', role: 'group', 'aria-labelledby': 'calls-title' },
    h('h2', { id: 'calls-title' }, 'Calls'),
    h('div', { class: 'check' }, box, h('label', { for: 'calls-relay' }, 'Relay my calls through the server (hides my IP address from the other side)')),
    h('p', { class: 'hint' }, 'A direct call tells the other side your IP address. Relayed calls need a relay (TURN) server on this Parley server, and may sound a little later. Kept in this browser.'));
}

// Email (docs/email.md): add an address, then the 6-digit code mailed to it verifies it.
function emailCard(me, ctx) {
  const state = h('p', { id: 'email-state' }, me.email
    ? `${me.email} (${me.emailVerified ? 'verified' : 'not verified'})`
    : 'No email address yet.');
  const ask = h('form', { class: 'card', 'aria-labelledby': 'email-title' },
    h('h2', { id: 'email-title' }, 'Email'),
    state,
    field('Email address', { name: 'email', type: 'email', autocomplete: 'email', required: true, maxLength: 254, value: me.email ?? '' }),
    h('button', { type: 'submit' }, 'Send verification code'));
  const verify = h('form', { class: 'card', 'aria-labelledby': 'email-code-title', hidden: true },
    h('h2', { id: 'email-code-title' }, 'Verify your address'),
    h('p', { role: 'status', id: 'email-sent' }),
    field('Verification code', { name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true, pattern: '[0-9]{6}', maxLength: 6 }),
    h('button', { type: 'submit', class: 'primary' }, 'Verify'));
  ask.addEventListener('submit', (e) => {
    e.preventDefault();
    const email = new FormData(ask).get('email').trim();
    attempt(async () => {
      try { await api('POST', '/api/users/me/email', { email }); } catch (error) {
        if (error.status === 404) throw new Error('Email is not set up on this server.');
        throw error;
      }
      verify.hidden = false;
      verify.querySelector('#email-sent').textContent = `A code was mailed to ${email}. It is valid for 15 minutes.`;
      verify.querySelector('input').focus();
    });
  });
  verify.addEventListener('submit', (e) => {
    e.preventDefault();
    attempt(async () => {
      const updated = await api('POST', '/api/users/me/email/verify', { code: new FormData(verify).get('code').trim() });
      ctx.me = { ...ctx.me, ...updated };
      state.textContent = `${updated.email} (verified)`;
      verify.hidden = true;
      verify.reset();
      toast('Email address verified.', 'notice');
    });
  });
  return h('div', {}, ask, verify);
}
