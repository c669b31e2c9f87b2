// The one WebSocket module every page uses: JSON frames in and out, a visible connection state,
// and reconnection with capped exponential backoff and full jitter, so that a thousand tabs
// dropped by one restart do not all come back in the same instant.
//
// The cap is short: a person is waiting. 2 s spreads a thousand tabs over 2 s (500 handshakes a
// second for nginx and two Daphne workers), and a page is back at most 2 s after the server is.
// A wait is cut short when the tab becomes visible again, when the browser says the network is
// back (`online`), and by the "Reconnect now" button renderState shows.

export const RETRY_BASE_MS = 250;
export const RETRY_CAP_MS = 2_000;
// Fired on window by the "Reconnect now" button: every LiveSocket of the page that is waiting
// to reconnect tries at once.
export const RECONNECT_NOW_EVENT = 'livesocket:reconnect-now';
const STABLE_AFTER_MS = 5_000;

// Close codes after which retrying cannot help (docs/protocol.md); 4008 (rate limited) and
// 4009 (too slow to read) are not here: after backing off, the next connection may keep up.
const SESSION_ENDED = 4401;
const PERMANENT_CLOSES = new Map([
  [SESSION_ENDED, 'Sign in to connect'],
  [4404, 'Unknown room'],
]);

// ws: or wss: to this page's own host, so the same code works behind TLS and on localhost.
export function socketUrl(path, loc = globalThis.location) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}${path}`;
}

// Full jitter: anywhere from 0 to the capped exponential step.
export function retryDelayMs(attempt, random = Math.random) {
  return random() * Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** attempt);
}

// States: {name: 'connecting'} | {name: 'open'}
//   | {name: 'reconnecting', retryAt: <performance.now() ms>, code}
//   | {name: 'closed', detail?: <why, when the server ended it for good>}
// Events: 'statechange' and 'message' (CustomEvent, detail = state / {message, receivedAt}).
export class LiveSocket extends EventTarget {
  #url;
  #ws = null;
  #attempt = 0;
  #retryTimer = null;
  #stableTimer = null;
  #stopped = false;
  #onMessage;
  #onStateChange;
  #guestAllowed;
  state = { name: 'connecting' };

  // Connects on the next microtask, so the caller's `const socket = new LiveSocket(...)` is
  // assigned before its callbacks can run.
  // guestAllowed: the endpoint serves guests too, so a 4401 (the session that signed this
  // socket in has ended) means "go on as a guest": reconnect at once instead of stopping.
  constructor(path, { onMessage = () => {}, onStateChange = () => {}, guestAllowed = false } = {}) {
    super();
    this.#url = socketUrl(path);
    this.#onMessage = onMessage;
    this.#onStateChange = onStateChange;
    this.#guestAllowed = guestAllowed;
    queueMicrotask(() => this.#connect());
    const now = () => this.reconnectNow();
    globalThis.addEventListener?.('online', now);
    globalThis.addEventListener?.(RECONNECT_NOW_EVENT, now);
    globalThis.document?.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') now();
    });
  }

  // While waiting to reconnect: try now instead (the back-off step is kept, so a server still
  // down is not hammered). Otherwise nothing.
  reconnectNow() {
    if (this.#stopped || this.state.name !== 'reconnecting') return false;
    clearTimeout(this.#retryTimer);
    this.#connect();
    return true;
  }

  get isOpen() {
    return this.#ws !== null && this.#ws.readyState === WebSocket.OPEN;
  }

  // Sends one JSON frame; false when the socket is not open (nothing is queued).
  send(message) {
    if (!this.isOpen) return false;
    this.#ws.send(JSON.stringify(message));
    return true;
  }

  // Closes for good: no more reconnects.
  close() {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#ws?.close(1000);
    this.#setState({ name: 'closed' });
  }

  #connect() {
    if (this.#stopped) return;
    this.#setState({ name: 'connecting' });
    const ws = new WebSocket(this.#url);
    this.#ws = ws;
    ws.addEventListener('open', () => {
      // The back-off resets only once a socket has proved stable: a server that accepts and
      // then closes at once (a flood close, a failing endpoint) keeps being backed off.
      this.#stableTimer = setTimeout(() => { this.#attempt = 0; }, STABLE_AFTER_MS);
      this.#setState({ name: 'open' });
    });
    ws.addEventListener('message', (event) => this.#receive(event));
    ws.addEventListener('close', (event) => this.#closed(ws, event));
  }

  #receive(event) {
    // Taken before parsing so that timing on the page does not include our own work.
    const receivedAt = performance.now();
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      console.warn('LiveSocket: ignoring a frame that is not JSON', event.data);
      return;
    }
    this.#onMessage(message, receivedAt);
    this.dispatchEvent(new CustomEvent('message', { detail: { message, receivedAt } }));
  }

  #closed(ws, event) {
    if (ws !== this.#ws || this.#stopped) return;
    clearTimeout(this.#stableTimer);
    this.#ws = null;
    if (event.code === SESSION_ENDED && this.#guestAllowed) {
      this.#attempt = 0;
      this.#retryTimer = setTimeout(() => this.#connect(), 0);
      this.#setState({ name: 'reconnecting', retryAt: performance.now(), code: event.code });
      return;
    }
    const permanent = PERMANENT_CLOSES.get(event.code);
    if (permanent) {
      this.#stopped = true;
      this.#setState({ name: 'closed', detail: permanent, code: event.code });
      return;
    }
    const delay = retryDelayMs(this.#attempt);
    this.#attempt += 1;
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
    this.#setState({ name: 'reconnecting', retryAt: performance.now() + delay, code: event.code });
  }

  #setState(state) {
    this.state = state;
    this.#onStateChange(state);
    this.dispatchEvent(new CustomEvent('statechange', { detail: state }));
  }
}

const countdowns = new WeakMap();

// Shows a state in an element: data-state for styling and tests, a sentence for people.
// While reconnecting it counts down to the next attempt by itself.
// While reconnecting, a "Reconnect now" button follows the element.
export function renderState(el, state) {
  clearInterval(countdowns.get(el));
  countdowns.delete(el);
  el.dataset.state = state.name;
  el.textContent = stateText(state);
  reconnectButton(el).hidden = state.name !== 'reconnecting';
  if (state.name === 'reconnecting') {
    countdowns.set(el, setInterval(() => { el.textContent = stateText(state); }, 100));
  }
}

const buttons = new WeakMap();

function reconnectButton(el) {
  let button = buttons.get(el);
  if (!button) {
    button = document.createElement('button');
    button.type = 'button';
    button.className = 'button button--small button--secondary reconnect-now';
    button.textContent = 'Reconnect now';
    button.hidden = true;
    button.addEventListener('click', () => globalThis.dispatchEvent(new Event(RECONNECT_NOW_EVENT)));
    el.after(button);
    buttons.set(el, button);
  }
  return button;
}

export function stateText(state, now = performance.now()) {
  switch (state.name) {
    case 'open':
      return 'Connected';
    case 'connecting':
      return 'Connecting…';
    case 'reconnecting': {
      const seconds = Math.max(0, (state.retryAt - now) / 1000);
      return `Reconnecting in ${seconds.toFixed(1)} s`;
    }
    default:
      return state.detail ? `Disconnected: ${state.detail}` : 'Disconnected';
  }
}
