// The users page: every registered user with a live online/offline dot and "last seen". The
// page is served with each user's status, so it is right before the socket opens; the socket
// then sends the whole list once and every change after it. Statuses are kept by version
// (presence.js), so a late or repeated message never brings an old status back.

import { byId, config, logRefusal, openSocket } from './page.js';
import { Statuses, statusText } from './presence.js';

// "Last seen 3 min ago" grows older by itself: redraw the words now and then.
const RELATIVE_TIME_REFRESH_MS = 15_000;

const statuses = new Statuses();
const rows = new Map(); // username -> <li>, as served (usernames are data, never selectors)
for (const row of byId('users').querySelectorAll('li[data-username]')) rows.set(row.dataset.username, row);

function take(users) {
  let changed = false;
  for (const status of users) {
    if (statuses.apply(status)) {
      draw(status);
      changed = true;
    }
  }
  if (changed) drawSummary();
}

function draw(status) {
  const row = rows.get(status.username) ?? addRow(status.username);
  row.dataset.online = String(status.online);
  const text = row.querySelector('.presence__status');
  text.textContent = statusText(status);
  text.title = status.last_seen === null ? '' : `Last seen ${new Date(status.last_seen).toLocaleString()}`;
}

// A user who signed up after the page was served: a row in username order.
function addRow(username) {
  const row = byId('presence-row').content.firstElementChild.cloneNode(true);
  row.dataset.username = username;
  row.querySelector('.presence__name').textContent = username;
  const list = byId('users');
  const next = [...list.children].find((other) => other.dataset.username > username);
  list.insertBefore(row, next ?? null);
  rows.set(username, row);
  byId('user-count').textContent = String(rows.size);
  return row;
}

function drawSummary() {
  byId('online-count').textContent = String(statuses.onlineCount);
  byId('presence-unknown').hidden = true;
}

function redrawTimes() {
  for (const username of rows.keys()) {
    const status = statuses.get(username);
    if (status !== undefined && !status.online) draw(status);
  }
}

take(config.users ?? []);
setInterval(redrawTimes, RELATIVE_TIME_REFRESH_MS);
const socket = openSocket();
socket.on('presence', (message) => take(message.users));
socket.on('status', (message) => take([message]));
socket.on('error', logRefusal);
