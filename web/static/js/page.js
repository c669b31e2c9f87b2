// What every page module shares: the page's config from the server, how figures read, the
// theme's colours, and its live socket with the connection state shown on the page.
//
// The config is the server's json_script "page-config" (web/views/pageconfig.py): the socket's
// path, the close codes and the server's limits, so none of them is retyped here.

import { LiveSocket, RECONNECT_NOW_EVENT } from './socket.js';

export const byId = (id) => document.getElementById(id);

export const config = JSON.parse(byId('page-config').textContent);

// Milliseconds to one decimal, or a dash for "none yet".
export function formatMs(value) {
  return value === null || value === undefined ? '—' : value.toFixed(1);
}

// A colour of the page's theme (a CSS custom property on :root, light or dark), for the charts.
export function themeColor(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// For an `error` frame the page has nothing to show for: the console says what was refused.
export function logRefusal(frame) {
  console.warn(`server refused a frame: ${frame.code}: ${frame.detail}`);
}

// The page's LiveSocket (socket.js), its state shown in #conn-state. guestAllowed as LiveSocket.
export function openSocket({ guestAllowed = false } = {}) {
  const socket = new LiveSocket(config.ws_path, { codes: config.close_codes, guestAllowed });
  showState(socket, byId('conn-state'));
  return socket;
}

// ---------------------------------------------------------------- the connection state

// Shows the socket's state in `el`: data-state for styling and tests, a sentence for people.
// While reconnecting it counts down to the next attempt, and a "Reconnect now" button follows
// the element.
function showState(socket, el) {
  const button = reconnectButton();
  el.after(button);
  let countdown = null;
  socket.on('statechange', (state) => {
    clearInterval(countdown);
    el.dataset.state = state.name;
    el.textContent = stateText(state);
    button.hidden = state.name !== 'reconnecting';
    if (state.name === 'reconnecting') countdown = setInterval(() => { el.textContent = stateText(state); }, 100);
  });
}

function reconnectButton() {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'button button--small button--secondary reconnect-now';
  button.textContent = 'Reconnect now';
  button.hidden = true;
  button.addEventListener('click', () => globalThis.dispatchEvent(new Event(RECONNECT_NOW_EVENT)));
  return button;
}

function stateText(state) {
  switch (state.name) {
    case 'open':
      return 'Connected';
    case 'connecting':
      return 'Connecting…';
    case 'reconnecting': {
      const seconds = Math.max(0, (state.retryAt - performance.now()) / 1000);
      return `Reconnecting in ${seconds.toFixed(1)} s`;
    }
    default:
      return closedText(state.code);
  }
}

// Why the server ended the socket for good, when it said so with a close code.
function closedText(code) {
  if (code === config.close_codes.sign_in_required) return 'Disconnected: Sign in to connect';
  if (code === config.close_codes.unknown_room) return 'Disconnected: Unknown room';
  return 'Disconnected';
}
