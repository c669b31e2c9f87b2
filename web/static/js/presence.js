// Presence rules the users page needs, free of the DOM (tests run them under node): each user's
// newest status by version, and how "last seen" reads.

// Every status carries a version that grows with each change of that user's status; the
// server may deliver events late or twice, or a list that is older than an event already
// here, so a status counts only if its version is newer than the one we hold.
export class Statuses {
  #byUser = new Map(); // username -> {username, online, last_seen, version}

  // Takes a status if it is newer than what we hold; true when it changed anything.
  apply(status) {
    const held = this.#byUser.get(status.username);
    if (held !== undefined && status.version <= held.version) return false;
    this.#byUser.set(status.username, status);
    return true;
  }

  get(username) {
    return this.#byUser.get(username);
  }

  get onlineCount() {
    let count = 0;
    for (const status of this.#byUser.values()) if (status.online) count += 1;
    return count;
  }
}

// "Online", or when the user was last seen, in words (`now` and `last_seen` in epoch ms).
export function statusText(status, now = Date.now()) {
  if (status.online) return 'Online';
  if (status.last_seen === null) return 'Offline · never seen';
  return `Offline · last seen ${ago(now - status.last_seen)}`;
}

export function ago(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 45) return 'just now';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  return days === 1 ? 'yesterday' : `${days} days ago`;
}
