// Measures round trips over a LiveSocket: one ping in flight at a time, so a slow answer never
// queues more pings behind it and every delay measures the path rather than our own backlog.
// A ping with no pong within `lostAfterMs`, or in flight when the socket drops, is lost.

export class Pinger {
  #socket;
  #intervalMs;
  #lostAfterMs;
  #onResult;
  #nextSeq = 1;
  #inFlight = null; // {seq, startedAt, sentAtMs, lostTimer}
  #lastSendAt = null; // performance.now() of the latest send; null: ping at once
  #sendTimer = null;
  #paused = false;

  // onResult({seq, startedAt, sentAtMs}, delayMs | null) is called once per ping.
  constructor(socket, { intervalMs, lostAfterMs, onResult }) {
    this.#socket = socket;
    this.#intervalMs = intervalMs;
    this.#lostAfterMs = lostAfterMs;
    this.#onResult = onResult;
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

  // Feed every state change of the socket: pinging starts at once on each (re)connect.
  onStateChange(state) {
    if (state.name === 'open') {
      this.#lastSendAt = null;
      this.#schedule();
      return;
    }
    clearTimeout(this.#sendTimer);
    // The answer to a ping in flight cannot arrive on a new socket: it is lost.
    if (this.#inFlight !== null) this.#resolve(null);
  }

  // Feed every pong; one for any other seq answers a ping already counted as lost.
  onPong(message, receivedAt) {
    if (this.#inFlight !== null && message.seq === this.#inFlight.seq) {
      this.#inFlight.pong = message;
      this.#resolve(receivedAt - this.#inFlight.startedAt);
    }
  }

  // The next ping goes `intervalMs` after the previous send, and only once that one resolved.
  #schedule() {
    clearTimeout(this.#sendTimer);
    this.#sendTimer = null;
    if (!this.#canPing()) return;
    const due = this.#lastSendAt === null ? 0 : this.#lastSendAt + this.#intervalMs - performance.now();
    this.#sendTimer = setTimeout(() => this.#send(), Math.max(0, due));
  }

  #canPing() {
    return !this.#paused && this.#socket.isOpen && this.#inFlight === null;
  }

  #send() {
    this.#sendTimer = null;
    if (!this.#canPing()) return;
    const seq = this.#nextSeq;
    const startedAt = performance.now();
    const sentAtMs = performance.timeOrigin + startedAt;
    if (!this.#socket.send({ type: 'ping', seq, sent_at: sentAtMs })) return;
    this.#nextSeq += 1;
    this.#lastSendAt = startedAt;
    const lostTimer = setTimeout(() => this.#resolve(null), this.#lostAfterMs);
    this.#inFlight = { seq, startedAt, sentAtMs, lostTimer };
  }

  #resolve(delayMs) {
    const { lostTimer, ...ping } = this.#inFlight;
    this.#inFlight = null;
    clearTimeout(lostTimer);
    this.#onResult(ping, delayMs);
    this.#schedule();
  }
}
