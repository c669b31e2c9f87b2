// The one WebSocket module every page uses: JSON frames in and out, a connection state, and
// reconnection with capped exponential backoff and full jitter, so that a thousand tabs dropped
// by one restart do not all come back in the same instant. No DOM: page.js shows the state.
//
// The cap is short: a person is waiting. 2 s spreads a thousand tabs over 2 s (500 handshakes a
// second for nginx and two Daphne workers), and a page is back at most 2 s after the server is.
// A wait is cut short when the tab becomes visible again, when the browser says the network is
// back (`online`), and by RECONNECT_NOW_EVENT (page.js's "Reconnect now" button).
//
// The close codes come from the server (shared/protocol.py, through the page config), as
// {service_restart, sign_in_required, unknown_room}:
//   service_restart   a worker restarting on purpose: reconnect at once, with up to
//                     RESTART_JITTER_MS of jitter, to land on another worker;
//   sign_in_required  the session that signed the socket in has ended: stop, or on an endpoint
//                     that serves guests too (`guestAllowed`), go on as a guest at once;
//   unknown_room      stop: retrying cannot help.
// Any other close (4008 rate limited and 4009 too slow among them) backs off and retries: the
// next connection may keep up.

export const RETRY_BASE_MS = 250;
export const RETRY_CAP_MS = 2_000;
export const RESTART_JITTER_MS = 1_000;
// Fired on window: every LiveSocket of the page that is waiting to reconnect tries at once.
export const RECONNECT_NOW_EVENT = 'livesocket:reconnect-now';
const STABLE_AFTER_MS = 5_000;

// ws: or wss: to this page's own host, so the same code works behind TLS and on localhost.
export function socketUrl(path, loc = globalThis.location) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}${path}`;
}

// How long to wait (ms) before reconnecting after a close with `code`, the `attempt`-th close
// in a row (from 0); null: do not reconnect. `codes` and `guestAllowed` as LiveSocket takes them.
export function reconnectDelayMs(attempt, code, { codes, guestAllowed = false }, random = Math.random) {
  if (code === codes.sign_in_required) return guestAllowed ? 0 : null;
  if (code === codes.unknown_room) return null;
  if (code === codes.service_restart) return random() * RESTART_JITTER_MS;
  // Full jitter: anywhere from 0 to the capped exponential step.
  return random() * Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** attempt);
}

// States: {name: 'connecting'} | {name: 'open'}
//   | {name: 'reconnecting', retryAt: <performance.now() ms>, code}
//   | {name: 'closed', code?: <the server's, when it ended the socket for good>}
// Listening, the one way: socket.on(type, handler), where type is a frame type from the
// server (handler(frame, receivedAt), receivedAt in performance.now() ms) or 'statechange'
// (handler(state)); no server frame has that type.
export class LiveSocket {
  #url;
  #policy;
  #handlers = new Map(); // type -> [handler]
  #ws = null;
  #attempt = 0;
  #retryTimer = null;
  #stableTimer = null;
  #stopped = false;
  state = { name: 'connecting' };

  // Connects on the next microtask, so the caller can add its handlers first.
  // codes: {service_restart, sign_in_required, unknown_room}, the server's close codes.
  // guestAllowed: the endpoint serves guests too (see sign_in_required above).
  constructor(path, { codes, guestAllowed = false }) {
    this.#url = socketUrl(path);
    this.#policy = { codes, guestAllowed };
    queueMicrotask(() => this.#connect());
    const now = () => this.reconnectNow();
    globalThis.addEventListener?.('online', now);
    globalThis.addEventListener?.(RECONNECT_NOW_EVENT, now);
    globalThis.document?.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') now();
    });
  }

  on(type, handler) {
    if (!this.#handlers.has(type)) this.#handlers.set(type, []);
    this.#handlers.get(type).push(handler);
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

  #emit(type, ...args) {
    for (const handler of this.#handlers.get(type) ?? []) handler(...args);
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
    this.#emit(message.type, message, receivedAt);
  }

  #closed(ws, { code }) {
    if (ws !== this.#ws || this.#stopped) return;
    clearTimeout(this.#stableTimer);
    this.#ws = null;
    const delay = reconnectDelayMs(this.#attempt, code, this.#policy);
    if (delay === null) {
      this.#stopped = true;
      this.#setState({ name: 'closed', code });
      return;
    }
    // A restart or an ended session is not this client's fault: the back-off starts over.
    const { service_restart, sign_in_required } = this.#policy.codes;
    this.#attempt = code === service_restart || code === sign_in_required ? 0 : this.#attempt + 1;
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
    this.#setState({ name: 'reconnecting', retryAt: performance.now() + delay, code });
  }

  #setState(state) {
    this.state = state;
    this.#emit('statechange', state);
  }
}
