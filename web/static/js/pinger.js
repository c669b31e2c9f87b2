// Measures round trips over a LiveSocket (socket.js): one ping in flight at a time, so a slow
// answer never queues more pings behind it and every delay measures the path rather than our own
// backlog. The pinger listens to the socket's state changes and pongs itself.
//
// Every ping ends in exactly one result, {seq, sentAtMs, delayMs, status, pong}:
//   'ok'        a sample: counted in the statistics (and reported to the board);
//   'warmup'    the first answered ping after each (re)connect: shown, not counted (a fresh
//               socket's first round trip pays for set-up that later ones do not);
//   'lost'      no pong within `lostAfterMs`, a pong handled after it (a late pong is never a
//               sample), or the socket dropped while it was in flight; delayMs is null;
//   'discarded' the page was hidden, frozen or stalled while it was in flight, so its timing
//               says nothing about the network: neither a sample nor lost; delayMs is null.
// No result has a delay above `lostAfterMs`.
//
// A stall is seen the way a user would see it: a timer or handler running far later than it
// was due. While a ping is in flight a watchdog timer runs every WATCH_MS; if it, or the
// pong's handler, runs more than STALL_MS after the watchdog was next due, the main thread was
// busy (or the tab frozen) and the pong's timestamp may be that much late.
//
// While the page is hidden no pings are sent (browsers throttle hidden pages' timers); the
// ping in flight when it hides is discarded, and a fresh one goes as soon as it is visible.

export const WATCH_MS = 50;
export const STALL_MS = 100;

export class Pinger {
  #socket;
  #intervalMs;
  #lostAfterMs;
  #onResult;
  #now;
  #nextSeq = 1;
  #inFlight = null; // {seq, startedAt, sentAtMs, lostTimer, watchTimer, beatAt, stalled}
  #lastSendAt = null; // #now() of the latest send; null: ping at once
  #sendTimer = null;
  #paused = false;
  #hidden = false;
  #warm = false; // a ping was answered on this socket

  constructor(socket, { intervalMs, lostAfterMs, onResult, now = () => performance.now() }) {
    this.#socket = socket;
    this.#intervalMs = intervalMs;
    this.#lostAfterMs = lostAfterMs;
    this.#onResult = onResult;
    this.#now = now;
    socket.on('statechange', (state) => this.#onStateChange(state));
    socket.on('pong', (pong, receivedAt) => this.#onPong(pong, receivedAt));
  }

  get paused() {
    return this.#paused;
  }

  get intervalMs() {
    return this.#intervalMs;
  }

  setPaused(paused) {
    this.#paused = paused;
    this.#schedule();
  }

  setInterval(ms) {
    this.#intervalMs = ms;
    this.#schedule();
  }

  // Hidden: stop, and discard the ping in flight. Visible again: a fresh ping at once.
  setHidden(hidden) {
    if (hidden === this.#hidden) return;
    this.#hidden = hidden;
    if (hidden && this.#inFlight !== null) this.#resolve('discarded', null);
    if (!hidden) this.#lastSendAt = null;
    this.#schedule();
  }

  // On every state change of the socket: pinging starts at once on each (re)connect.
  #onStateChange(state) {
    if (state.name === 'open') {
      this.#lastSendAt = null;
      this.#warm = false;
      this.#schedule();
      return;
    }
    clearTimeout(this.#sendTimer);
    // The answer to a ping in flight cannot arrive on a new socket: it is lost.
    if (this.#inFlight !== null) this.#resolve('lost', null);
  }

  // On every pong, with the time its handler started; one for any other seq answers a ping
  // already resolved (lost or discarded), and is ignored.
  #onPong(message, receivedAt) {
    const ping = this.#inFlight;
    if (ping === null || message.seq !== ping.seq) return;
    ping.pong = message;
    const delayMs = receivedAt - ping.startedAt;
    if (delayMs > this.#lostAfterMs) {
      this.#resolve('lost', null);
    } else if (ping.stalled || this.#isLate(ping, receivedAt)) {
      this.#warm = true;
      this.#resolve('discarded', null);
    } else {
      const status = this.#warm ? 'ok' : 'warmup';
      this.#warm = true;
      this.#resolve(status, delayMs);
    }
  }

  // The next ping goes `intervalMs` after the previous send, and only once that one resolved.
  #schedule() {
    clearTimeout(this.#sendTimer);
    this.#sendTimer = null;
    if (!this.#canPing()) return;
    const due = this.#lastSendAt === null ? 0 : this.#lastSendAt + this.#intervalMs - this.#now();
    this.#sendTimer = setTimeout(() => this.#send(), Math.max(0, due));
  }

  #canPing() {
    return !this.#paused && !this.#hidden && this.#socket.isOpen && this.#inFlight === null;
  }

  #send() {
    this.#sendTimer = null;
    if (!this.#canPing()) return;
    const seq = this.#nextSeq;
    const startedAt = this.#now();
    const sentAtMs = performance.timeOrigin + startedAt;
    if (!this.#socket.send({ type: 'ping', seq, sent_at: sentAtMs })) return;
    this.#nextSeq += 1;
    this.#lastSendAt = startedAt;
    const ping = { seq, startedAt, sentAtMs, beatAt: startedAt, stalled: false, pong: null };
    ping.lostTimer = setTimeout(() => this.#resolve('lost', null), this.#lostAfterMs);
    ping.watchTimer = setInterval(() => this.#watch(ping), WATCH_MS);
    this.#inFlight = ping;
  }

  // The watchdog: each beat should come WATCH_MS after the last one.
  #watch(ping) {
    const now = this.#now();
    if (this.#isLate(ping, now)) ping.stalled = true;
    ping.beatAt = now;
  }

  #isLate(ping, now) {
    return now - ping.beatAt > WATCH_MS + STALL_MS;
  }

  #resolve(status, delayMs) {
    const { seq, sentAtMs, pong, lostTimer, watchTimer } = this.#inFlight;
    this.#inFlight = null;
    clearTimeout(lostTimer);
    clearInterval(watchTimer);
    this.#onResult({ seq, sentAtMs, delayMs, status, pong });
    this.#schedule();
  }
}

// Pause a pinger while its page is hidden or frozen (Page Lifecycle's freeze/resume).
export function followVisibility(pinger, doc = document) {
  const update = () => pinger.setHidden(doc.visibilityState === 'hidden');
  doc.addEventListener('visibilitychange', update);
  doc.addEventListener('freeze', () => pinger.setHidden(true));
  doc.addEventListener('resume', update);
  update();
}
