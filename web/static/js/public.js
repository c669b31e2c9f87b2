// The public board: this browser pings once a second and reports its delay; each report is
// answered with the board (at most 200 rows, the summary and everyone's distribution), and
// joins, leaves and renames arrive as they happen. The first render uses the snapshot the page
// was served with, so the board shows before the socket opens.

import uPlot from '../vendor/uplot/uPlot.esm.min.js';
import { withRowObjects } from './boardrows.js';
import { countAxis } from './chartaxes.js';
import { oncePerFrame } from './frames.js';
import { lengthProblem, nameElement, nameWithTag } from './names.js';
import { byId, config, formatMs, logRefusal, openSocket, themeColor } from './page.js';
import { Pinger, followVisibility } from './pinger.js';

const ACTIVITY_LINES = 12;
const CHART_HEIGHT = 220;

// ---------------------------------------------------------------- what the board holds

const board = {
  rows: new Map(), // id -> row, in connection order
  total: 0,
  summary: null,
  histogram: null,
  you: null, // {id, name} once welcomed
  myDelay: null,
  // Names by id for the activity log, kept apart from the rows: an answer that no longer
  // lists a client can arrive before the broadcast of its leave.
  names: new Map(), // id -> {name, guest}
  announced: new Set(), // ids whose join is in the activity log
};

function replaceRows(rows, total) {
  board.rows = new Map(rows.map((row) => [row.id, row]));
  board.total = total;
  for (const row of rows) board.names.set(row.id, { name: row.name, guest: row.guest });
}

function takeSnapshot(snapshot) {
  replaceRows(snapshot.clients, snapshot.total);
  board.summary = snapshot.summary;
  board.histogram = snapshot.histogram;
}

// ---------------------------------------------------------------- messages

const handlers = {
  welcome(message) {
    board.you = message.you;
    replaceRows(message.clients, message.total);
    showMyName(message.you.name);
  },
  delays(message) {
    takeSnapshot(message);
    // "My delay" is my row's: the server's timing, the figure everyone sees and the summary counts.
    const mine = board.rows.get(board.you?.id);
    if (mine?.delay_ms !== null && mine?.delay_ms !== undefined) board.myDelay = mine.delay_ms;
  },
  connect(message) {
    for (const client of message.clients) {
      // Logged once per id, even when an answer listed the newcomer before its join arrived.
      if (client.id !== board.you?.id && !board.announced.has(client.id)) logActivity(nameElement(client.name), ' joined');
      board.announced.add(client.id);
      if (board.rows.has(client.id)) continue; // our own join, or one the last answer had
      board.names.set(client.id, { name: client.name, guest: client.guest });
      board.total += 1;
      // Past the server's row cap a newcomer is only counted, as the next answer will show.
      if (board.rows.size < config.max_rows) {
        board.rows.set(client.id, { ...client, delay_ms: null, median_ms: null, jitter_ms: null, joined: true });
      }
    }
  },
  disconnect(message) {
    for (const id of message.ids) {
      if (board.rows.delete(id) || board.total > board.rows.size) board.total -= 1;
      const known = board.names.get(id);
      board.names.delete(id);
      board.announced.delete(id);
      if (known !== undefined) logActivity(nameElement(known.name), ' left');
    }
  },
  rename(message) {
    const before = board.names.get(message.id);
    if (before !== undefined && before.name !== message.name) {
      logActivity(nameElement(before.name), ' is now ', nameElement(message.name));
    }
    board.names.set(message.id, { name: message.name, guest: message.guest });
    const row = board.rows.get(message.id);
    if (row) Object.assign(row, { name: message.name, guest: message.guest });
    if (message.id === board.you?.id) showMyName(message.name);
  },
  error(message) {
    if (message.code === 'bad_message' && renameError) showRenameError(message.detail);
    else logRefusal(message);
  },
};

function listen(socket) {
  for (const [type, handler] of Object.entries(handlers)) {
    socket.on(type, (message) => {
      handler(withRowObjects(message));
      scheduleRender();
    });
  }
  socket.on('statechange', noteConnection);
}

// Every counted delay is reported at once, on the pong it answers (seq and token): the server
// times that report itself, and the board shows its timing, this figure beside it as a claim.
// A warm-up ping is shown here but not reported; a lost or discarded one is neither.
function reportDelay(result) {
  if (result.delayMs === null) return;
  if (board.myDelay === null) board.myDelay = result.delayMs; // until the server's timing arrives
  if (result.status === 'ok') {
    const { seq, token } = result.pong;
    socket.send({ type: 'delay', delay_ms: Math.min(result.delayMs, config.delay_max_ms), seq, token });
  }
  scheduleRender();
}

// While disconnected the board is frozen at its last answer: marked stale until the socket is back.
let disconnectedSince = null;
let everOpen = false;

function noteConnection(state) {
  if (state.name === 'open') {
    everOpen = true;
    disconnectedSince = null;
  } else if (everOpen && disconnectedSince === null) {
    disconnectedSince = Date.now();
  }
  scheduleRender();
}

function renderStale() {
  const stale = disconnectedSince !== null;
  for (const el of document.querySelectorAll('[data-figures]')) el.classList.toggle('is-stale', stale);
  const note = byId('stale-note');
  note.hidden = !stale;
  if (stale) {
    const since = new Date(disconnectedSince).toLocaleTimeString();
    note.textContent = `Disconnected since ${since}: the board below is from before the outage.`;
  }
}

// ---------------------------------------------------------------- your name

const renameForm = byId('rename-form');
const renameInput = byId('rename-input');
const renameError = byId('rename-error');

function setUpRename() {
  if (!renameForm) return; // signed-in users appear under their username
  renameForm.addEventListener('submit', (event) => {
    event.preventDefault();
    // Counted as the server counts: code points after the same trimming (names.js).
    const name = renameInput.value.trim();
    const problem = lengthProblem(name, config.name_max_chars, 'A name');
    if (problem !== null) {
      showRenameError(problem);
    } else if (!socket.send({ type: 'rename', name })) {
      showRenameError('Not connected; try again in a moment.');
    } else {
      renameError.hidden = true;
    }
  });
}

function showRenameError(text) {
  renameError.textContent = text;
  renameError.hidden = false;
}

function showMyName(name) {
  if (renameInput && document.activeElement !== renameInput) renameInput.value = name;
  const myName = byId('my-name');
  if (myName) myName.textContent = name;
}

// ---------------------------------------------------------------- rendering

const scheduleRender = oncePerFrame(() => render());

function render() {
  byId('board-total').textContent = String(board.total);
  byId('my-delay').textContent = formatMs(board.myDelay);
  const summary = board.summary ?? {};
  for (const [id, key] of [['sum-min', 'min_ms'], ['sum-median', 'median_ms'], ['sum-p95', 'p95_ms'], ['sum-max', 'max_ms']]) {
    byId(id).textContent = formatMs(summary[key]);
  }
  renderRows();
  renderDistribution();
  renderStale();
}

function renderRows() {
  const body = byId('board-rows');
  body.replaceChildren(...[...board.rows.values()].map(rowElement));
  const hidden = board.total - board.rows.size;
  const more = byId('board-more');
  more.hidden = hidden <= 0;
  more.textContent = `…and ${hidden} more not listed (the summary and the chart count everyone).`;
}

function rowElement(row) {
  const tr = document.createElement('tr');
  tr.dataset.id = row.id;
  if (row.id === board.you?.id) tr.classList.add('row--you');
  if (row.joined) {
    tr.classList.add('row--joined');
    row.joined = false; // highlight once
  }
  const since = new Date(row.connected_at);
  const name = document.createElement('td');
  name.append(...nameWithTag(row.name, row.guest));
  tr.append(name);
  for (const text of [formatMs(row.delay_ms), formatMs(row.median_ms), formatMs(row.jitter_ms), since.toLocaleTimeString()]) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.append(td);
  }
  tr.lastChild.title = since.toLocaleString();
  tr.append(claimCell(row));
  return tr;
}

// The client's own figure, beside the server's timing; flagged when the two disagree widely.
function claimCell(row) {
  const td = document.createElement('td');
  td.textContent = formatMs(row.claimed_ms);
  if (row.suspect) {
    td.classList.add('claim--suspect');
    td.append(' (suspect)');
    td.title = 'This client claims a delay more than twice off what the server timed itself.';
  }
  return td;
}

// `parts`: strings and nodes (names come as <bdi> elements, so none can reorder the line).
function logActivity(...parts) {
  const item = document.createElement('li');
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString();
  item.append(time, ' ', ...parts);
  const list = byId('activity');
  list.prepend(item);
  while (list.children.length > ACTIVITY_LINES) list.lastChild.remove();
}

// ---------------------------------------------------------------- distribution chart (uPlot)

let chart;

function createChart() {
  const el = byId('chart-distribution');
  const grid = { stroke: themeColor('--grid'), width: 1 };
  const axis = (label, values) => ({ label, stroke: themeColor('--muted'), grid, ticks: grid, values });
  chart = new uPlot({
    width: el.clientWidth,
    height: CHART_HEIGHT,
    scales: { x: { time: false, range: (u, min, max) => [min - 0.5, max + 0.5] }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [axis('delay, ms', (u, ticks) => ticks.map(bucketLabel)), { ...axis('clients'), ...countAxis }],
    series: [
      { label: 'Delay', value: (u, v) => (v === null ? '—' : bucketLabel(v)) },
      {
        label: 'Clients',
        stroke: themeColor('--accent'),
        fill: themeColor('--accent-fill'),
        paths: uPlot.paths.bars({ size: [0.8, Infinity] }),
        points: { show: false },
      },
    ],
  }, [[], []], el);
  new ResizeObserver(() => chart.setSize({ width: el.clientWidth, height: CHART_HEIGHT })).observe(el);
}

// Buckets are 1-2-5 steps of unequal width, so bars stand at their index, labelled by range.
function bucketLabel(index) {
  const edges = board.histogram?.edges_ms;
  if (!edges || !Number.isInteger(index) || index < 0 || index >= edges.length) return '';
  return index === edges.length - 1 ? `≥${edges[index]}` : `${edges[index]}–${edges[index + 1]}`;
}

function renderDistribution() {
  const counts = board.histogram?.counts ?? [];
  chart.setData([counts.map((_, index) => index), counts]);
}

// ---------------------------------------------------------------- start

if (config.board) takeSnapshot(config.board);
createChart();
setUpRename();
render();
const socket = openSocket({ guestAllowed: true });
listen(socket);
const pinger = new Pinger(socket, { intervalMs: config.report_interval_ms, lostAfterMs: config.lost_after_ms, onResult: reportDelay });
followVisibility(pinger);
