// A chat room: its last messages at once (from the page, then from the socket's history), new
// ones live. Each message carries an id and is shown once, however often it arrives (the
// history again after every reconnect, a late catch-up after a server hiccup), in the order
// it was sent. Every name and text goes in through textContent: it is shown, never run.

import { codePoints, guestTag } from './names.js';
import { byId, config, openSocket } from './page.js';

const list = byId('messages');
const input = byId('composer-text');
const sendButton = byId('composer-send');
const notice = byId('chat-notice');

// A long visit keeps this many messages on the page; older ones stay in the room's history.
const MAX_SHOWN = 500;
// Within this many pixels of the bottom counts as "reading the newest": new messages keep the
// view at the bottom then, and leave it alone while someone reads further up.
const STICK_TO_BOTTOM_PX = 40;

const shown = new Map(); // message id -> its <li>

// ---------------------------------------------------------------- showing messages

function show(message) {
  if (shown.has(message.id)) return;
  const atBottom = isAtBottom();
  const item = messageItem(message);
  shown.set(message.id, item);
  insertInOrder(item, message.sent_at);
  dropOldest();
  byId('chat-empty').hidden = true;
  if (atBottom) scrollToBottom();
}

function messageItem(message) {
  const item = document.createElement('li');
  const mine = message.author === config.you && message.guest === config.guest;
  item.className = mine ? 'chat-message chat-message--mine' : 'chat-message';
  item.dataset.id = message.id;
  item.dataset.sentAt = String(message.sent_at);
  // The author's name in its own bidi isolate, so it cannot reorder the line; guests are tagged.
  const who = document.createElement('span');
  who.className = 'chat-message__who';
  const author = document.createElement('bdi');
  author.className = 'chat-message__author';
  author.textContent = message.author;
  who.append(author);
  if (message.guest) who.append(' ', guestTag());
  const time = document.createElement('time');
  time.className = 'chat-message__time';
  time.dateTime = new Date(message.sent_at).toISOString();
  time.textContent = formatTime(message.sent_at);
  const text = document.createElement('p');
  text.className = 'chat-message__text';
  text.textContent = message.text;
  item.append(who, time, text);
  return item;
}

// A new message is nearly always the latest: walk back from the end to the first one sent no
// later, so a late arrival (a catch-up) still lands where it belongs.
function insertInOrder(item, sentAt) {
  let before = list.lastElementChild;
  while (before !== null && Number(before.dataset.sentAt) > sentAt) before = before.previousElementSibling;
  if (before === null) list.prepend(item);
  else before.after(item);
}

function dropOldest() {
  while (list.childElementCount > MAX_SHOWN) {
    const oldest = list.firstElementChild;
    shown.delete(oldest.dataset.id);
    oldest.remove();
  }
}

function formatTime(epochMs) {
  const date = new Date(epochMs);
  const sameDay = date.toDateString() === new Date().toDateString();
  const options = sameDay ? { hour: '2-digit', minute: '2-digit' } : { dateStyle: 'medium', timeStyle: 'short' };
  return date.toLocaleString([], options);
}

function isAtBottom() {
  return list.scrollHeight - list.scrollTop - list.clientHeight <= STICK_TO_BOTTOM_PX;
}

function scrollToBottom() {
  list.scrollTop = list.scrollHeight;
}

// ---------------------------------------------------------------- sending

function send() {
  const text = input.value.trim();
  if (text === '') return;
  // Counted as the server counts: code points after the same trimming (names.js).
  const count = codePoints(text);
  if (count > config.max_chars) {
    showNotice(`A message holds at most ${config.max_chars} characters; this one has ${count}.`);
    return;
  }
  if (!socket.send({ type: 'message', text })) {
    showNotice('Not connected: your message stays here; send it again once the connection is back.');
    return;
  }
  unconfirmed = text;
  input.value = '';
  hideNotice();
}

// The text sent last, until the room echoes it back: if the socket drops first (the server
// could not store it and closed with 4503, or the network went), it goes back in the box.
let unconfirmed = null;

function restoreUnconfirmed() {
  if (unconfirmed === null) return;
  if (input.value.trim() === '') input.value = unconfirmed;
  unconfirmed = null;
  showNotice('Your last message may not have been sent: it is back in the box; send it again once connected.');
}

function showNotice(text) {
  notice.textContent = text;
  notice.hidden = false;
}

function hideNotice() {
  notice.hidden = true;
}

function refusalText(error) {
  if (error.code === 'rate_limited') return 'You are sending too fast: wait a moment, then go on.';
  return `Message not sent: ${error.detail}`;
}

// ---------------------------------------------------------------- the socket

function listen(socket) {
  socket.on('history', (frame) => frame.messages.forEach(show));
  socket.on('message', (frame) => {
    if (frame.message.text === unconfirmed) unconfirmed = null;
    show(frame.message);
  });
  socket.on('error', (frame) => {
    // A refused message is not lost: it goes back in the box (unless something new is there).
    if (unconfirmed !== null && input.value.trim() === '') input.value = unconfirmed;
    unconfirmed = null;
    showNotice(refusalText(frame));
  });
  socket.on('statechange', (state) => {
    sendButton.disabled = state.name !== 'open';
    if (state.name !== 'open' && state.name !== 'connecting') restoreUnconfirmed();
  });
}

byId('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  send();
});
input.addEventListener('keydown', (event) => {
  // Enter sends; Shift+Enter is a new line; Enter that ends an IME composition is neither.
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});

config.messages.forEach(show);
scrollToBottom();
const socket = openSocket();
listen(socket);
