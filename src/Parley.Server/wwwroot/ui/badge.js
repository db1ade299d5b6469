// The unread count in the tab title ("(3) Parley") and on the favicon (a red badge drawn on a canvas over the
// icon and set as a data: URL, which the CSP's img-src allows). Muted conversations do not count.

const BASE_TITLE = 'Parley';
let shown = -1;
let icon = null; // the plain icon, loaded once

function loadIcon() {
  if (!icon) {
    icon = new Promise((resolve) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => resolve(null);
      img.src = '/favicon.svg';
    });
  }
  return icon;
}

export async function showUnread(count) {
  if (count === shown) return;
  shown = count;
  document.title = count > 0 ? `(${count > 99 ? '99+' : count}) ${BASE_TITLE}` : BASE_TITLE;
  const link = document.querySelector('link[rel~="icon"]');
  if (!link) return;
  if (count <= 0) { link.href = '/favicon.svg'; link.type = 'image/svg+xml'; return; }
  const img = await loadIcon();
  if (count !== shown) return; // a newer count is being drawn
  const canvas = document.createElement('canvas');
  canvas.width = 64; canvas.height = 64;
  const g = canvas.getContext('2d');
  if (img) g.drawImage(img, 0, 0, 64, 64);
  g.fillStyle = '#c4161c';
  g.beginPath(); g.arc(44, 20, 20, 0, 2 * Math.PI); g.fill();
  g.fillStyle = '#fff';
  g.font = `bold ${count > 9 ? 22 : 28}px system-ui, sans-serif`;
  g.textAlign = 'center'; g.textBaseline = 'middle';
  g.fillText(count > 99 ? '99+' : String(count), 44, 21);
  link.type = 'image/png';
  link.href = canvas.toDataURL('image/png');
}

/** Back to the plain title and icon (signed out). */
export function clearUnread() { shown = -1; showUnread(0); }
