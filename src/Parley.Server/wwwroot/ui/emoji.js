// An emoji picker that ships with the client: a fixed set of common emoji, drawn by the system's emoji font (no
// image sprite, no external font, no CDN). A button opens a grid; arrow keys move, Enter or a click inserts the
// emoji at the caret, Escape closes and gives focus back to the message box.

import { h } from './dom.js';

const SETS = [
  ['Smileys', '😀 grinning|😃 smiling|😄 laughing eyes|😁 beaming|😆 squinting laugh|😅 sweat smile|🤣 rolling on the floor|😂 tears of joy|🙂 slight smile|😉 wink|😊 blush|😇 halo|🥰 hearts|😍 heart eyes|😘 kiss|😋 yum|😛 tongue|😜 wink tongue|🤪 zany|🤔 thinking|🤨 raised eyebrow|😐 neutral|😑 expressionless|😶 no mouth|🙄 eye roll|😏 smirk|😬 grimace|😌 relieved|😔 pensive|😴 sleeping|😷 mask|🤒 thermometer|🤯 mind blown|🥳 party|😎 sunglasses|🤓 nerd|😕 confused|😟 worried|😮 open mouth|😲 astonished|😳 flushed|🥺 pleading|😢 crying|😭 sobbing|😱 screaming|😤 huffing|😡 pouting|🤬 cursing|😈 devil|💀 skull'],
  ['Gestures', '👍 thumbs up|👎 thumbs down|👌 OK hand|✌️ victory|🤞 crossed fingers|🤝 handshake|👏 clapping|🙌 raised hands|👋 waving|🙏 folded hands|💪 flexed biceps|✍️ writing|👀 eyes|🫶 heart hands|🤷 shrug|🤦 facepalm|🙋 raising hand|🙇 bowing'],
  ['Hearts', '❤️ red heart|🧡 orange heart|💛 yellow heart|💚 green heart|💙 blue heart|💜 purple heart|🖤 black heart|🤍 white heart|💔 broken heart|💕 two hearts|💯 hundred|✨ sparkles|🔥 fire|⭐ star|🎉 party popper|🎂 birthday cake|🎁 gift|🏆 trophy'],
  ['Things', '☕ coffee|🍵 tea|🍺 beer|🍷 wine|🍕 pizza|🍔 burger|🍰 cake|🍎 apple|🌹 rose|🌞 sun|🌧️ rain|❄️ snowflake|🌈 rainbow|🐶 dog|🐱 cat|🚀 rocket|✈️ airplane|🚗 car|🏠 house|💻 laptop|📱 phone|📷 camera|📎 paperclip|📌 pin|📅 calendar|⏰ alarm clock|💡 light bulb|✅ check mark|❌ cross mark|❓ question|❗ exclamation|➡️ right arrow'],
].map(([name, list]) => [name, list.split('|').map((e) => { const at = e.indexOf(' '); return [e.slice(0, at), e.slice(at + 1)]; })]);

/** The picker button and its popover; `insert(emoji)` puts the emoji into the message box. */
export function emojiPicker(insert, onClose) {
  const buttons = [];
  const panel = h('div', { class: 'emoji-panel', role: 'dialog', 'aria-label': 'Emoji', hidden: true },
    SETS.map(([name, list]) => h('div', { class: 'emoji-set' },
      h('p', { class: 'emoji-set-name', id: `emoji-${name}` }, name),
      h('div', { class: 'emoji-grid', role: 'group', 'aria-labelledby': `emoji-${name}` }, list.map(([emoji, label]) => {
        const b = h('button', { type: 'button', class: 'emoji', tabindex: '-1', 'aria-label': label, title: label, 'data-emoji': emoji, onclick: () => { insert(emoji); close(); } }, emoji);
        buttons.push(b);
        return b;
      })))));
  const toggle = h('button', { type: 'button', class: 'emoji-toggle', 'aria-label': 'Emoji', title: 'Emoji', 'aria-expanded': 'false', 'aria-haspopup': 'dialog', onclick: () => (panel.hidden ? open() : close()) }, '😊');
  let at = 0;
  const COLUMNS = 8;
  function focusAt(i) {
    buttons[at].tabIndex = -1;
    at = (i + buttons.length) % buttons.length;
    buttons[at].tabIndex = 0;
    buttons[at].focus();
  }
  function open() {
    panel.hidden = false;
    toggle.setAttribute('aria-expanded', 'true');
    focusAt(at);
    document.addEventListener('pointerdown', outside, true);
  }
  function close(refocus = true) {
    if (panel.hidden) return;
    panel.hidden = true;
    toggle.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', outside, true);
    if (refocus) onClose?.();
  }
  function outside(e) { if (!panel.contains(e.target) && e.target !== toggle) close(false); }
  panel.addEventListener('keydown', (e) => {
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS, Home: -at, End: buttons.length - 1 - at };
    if (e.key in moves) { e.preventDefault(); focusAt(at + moves[e.key]); }
    else if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); close(); }
    else if (e.key === 'Tab') close(false);
  });
  return { toggle, panel, close };
}
