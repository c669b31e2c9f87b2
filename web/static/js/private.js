// The private page: measures this browser's WebSocket round trip, one ping at a time, and shows
// the figures, a live chart, a histogram and downloads. Nothing measured here leaves the browser.

import uPlot from '../vendor/uplot/uPlot.esm.js';
import { LiveSocket, renderState } from './socket.js';
import { SortedSamples, percentile } from './stats.js';

const config = JSON.parse(document.getElementById('page-config').textContent);
const byId = (id) => document.getElementById(id);

const CHART_WINDOW_S = 300; // the delay chart shows the last five minutes
const HISTOGRAM_TARGET_BINS = 30;
const HISTOGRAM_MIN_BIN_MS = 0.1; // browsers round performance.now() to about 0.1 ms
const CHART_HEIGHT = 260;

// ---------------------------------------------------------------- what was measured

const records = []; // every resolved ping in send order: {seq, sentAtMs, delayMs|null, status}
const delays = new SortedSamples();
let lostCount = 0;
let lastRecord = null;
let lastDelay = null; // the latest delay actually measured: a lost ping has none
const chartTimes = []; // epoch seconds (uPlot's time unit) within the chart window
const chartDelays = []; // null for a lost ping, which uPlot draws as a gap

function recordPing(ping, delayMs) {
  const status = delayMs === null ? 'lost' : 'ok';
  lastRecord = { seq: ping.seq, sentAtMs: ping.sentAtMs, delayMs, status };
  records.push(lastRecord);
  if (delayMs === null) {
    lostCount += 1;
  } else {
    delays.add(delayMs);
    lastDelay = delayMs;
  }
  chartTimes.push(ping.sentAtMs / 1000);
  chartDelays.push(delayMs);
  while (chartTimes[0] < chartTimes.at(-1) - CHART_WINDOW_S) {
    chartTimes.shift();
    chartDelays.shift();
  }
  scheduleRender();
}

// ---------------------------------------------------------------- pinging

// One ping in flight at a time, so a slow answer never queues more pings behind it and every
// delay measures the path rather than our own backlog.
let nextSeq = 1;
let inFlight = null; // {seq, startedAt, sentAtMs, lostTimer}
let lastSendAt = null; // performance.now() of the latest send; null until the socket opens
let sendTimer = null;
let intervalMs = config.default_interval_ms;
let paused = false;

let socket; // opened at the bottom, once the controls and charts exist

function canPing() {
  return !paused && socket.isOpen && inFlight === null;
}

// The next ping goes `intervalMs` after the previous send, and only once that one resolved.
function scheduleNextPing() {
  clearTimeout(sendTimer);
  sendTimer = null;
  if (!canPing()) return;
  const due = lastSendAt === null ? 0 : lastSendAt + intervalMs - performance.now();
  sendTimer = setTimeout(sendPing, Math.max(0, due));
}

function sendPing() {
  sendTimer = null;
  if (!canPing()) return;
  const seq = nextSeq;
  const startedAt = performance.now();
  const sentAtMs = performance.timeOrigin + startedAt;
  if (!socket.send({ type: 'ping', seq, sent_at: sentAtMs })) return;
  nextSeq += 1;
  lastSendAt = startedAt;
  const lostTimer = setTimeout(() => resolvePing(null), config.lost_after_ms);
  inFlight = { seq, startedAt, sentAtMs, lostTimer };
}

function resolvePing(delayMs) {
  const ping = inFlight;
  inFlight = null;
  clearTimeout(ping.lostTimer);
  recordPing(ping, delayMs);
  scheduleNextPing();
}

function onMessage(message, receivedAt) {
  if (message.type === 'pong') {
    // A pong for any other seq answers a ping already counted as lost.
    if (inFlight !== null && message.seq === inFlight.seq) resolvePing(receivedAt - inFlight.startedAt);
  } else if (message.type === 'error') {
    console.warn(`server refused a frame: ${message.code}: ${message.detail}`);
  }
}

function onStateChange(state) {
  renderState(byId('conn-state'), state);
  if (state.name === 'open') {
    lastSendAt = null; // start measuring at once on every (re)connect
    scheduleNextPing();
    return;
  }
  clearTimeout(sendTimer);
  // The answer to a ping in flight cannot arrive on a new socket: it is lost.
  if (inFlight !== null) resolvePing(null);
}

// ---------------------------------------------------------------- controls

function setUpControls() {
  const pause = byId('pause');
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    pause.setAttribute('aria-pressed', String(paused));
    if (paused) clearTimeout(sendTimer);
    else scheduleNextPing();
  });
  const interval = byId('interval');
  for (const ms of config.intervals_ms) {
    interval.append(new Option(intervalLabel(ms), String(ms), false, ms === intervalMs));
  }
  interval.addEventListener('change', () => {
    intervalMs = Number(interval.value);
    scheduleNextPing();
  });
  byId('download-csv').addEventListener('click', () => download('csv', 'text/csv', samplesCsv()));
  byId('download-json').addEventListener('click', () => download('json', 'application/json', samplesJson()));
}

function intervalLabel(ms) {
  return ms < 1000 ? `every ${ms} ms` : `every ${ms / 1000} s`;
}

// ---------------------------------------------------------------- downloads

function samplesCsv() {
  const lines = ['seq,sent_at_ms,sent_at_iso,delay_ms,status'];
  for (const r of records) {
    const delay = r.delayMs === null ? '' : r.delayMs.toFixed(3);
    const iso = new Date(r.sentAtMs).toISOString();
    lines.push(`${r.seq},${r.sentAtMs.toFixed(3)},${iso},${delay},${r.status}`);
  }
  return `${lines.join('\r\n')}\r\n`;
}

function samplesJson() {
  const samples = records.map((r) => ({
    seq: r.seq,
    sent_at_ms: roundTo3(r.sentAtMs),
    delay_ms: r.delayMs === null ? null : roundTo3(r.delayMs),
    status: r.status,
  }));
  const summary = { ...delays.summary(), lost: lostCount };
  for (const [name, value] of Object.entries(summary)) summary[name] = value === null ? null : roundTo3(value);
  const document_ = { exported_at: Date.now(), interval_ms: intervalMs, samples, summary };
  return JSON.stringify(document_, null, 2);
}

function roundTo3(value) {
  return Math.round(value * 1000) / 1000;
}

function download(extension, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  const stamp = new Date().toISOString().slice(0, 19).replace(/:/g, '-');
  link.href = url;
  link.download = `ping-samples-${stamp}.${extension}`;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoking at once can cancel the download in some browsers; a few seconds is plenty.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---------------------------------------------------------------- figures

let renderPending = false;

// Coalesced into one paint per frame; a hidden tab skips painting until it is shown again.
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    renderFigures();
    renderCharts();
  });
}

function renderFigures() {
  const summary = delays.summary();
  showMs('current', lastDelay);
  byId('current-note').hidden = lastRecord?.status !== 'lost';
  for (const name of ['min', 'median', 'p95', 'p99', 'max', 'jitter']) showMs(`stat-${name}`, summary[name]);
  byId('stat-samples').textContent = String(summary.count);
  byId('stat-lost').textContent = String(lostCount);
}

function showMs(id, value) {
  byId(id).textContent = formatMs(value);
}

function formatMs(value) {
  return value === null || value === undefined ? '—' : value.toFixed(1);
}

function withUnit(value) {
  return value === null || value === undefined ? '—' : `${value.toFixed(1)} ms`;
}

// ---------------------------------------------------------------- charts (uPlot)

let delayChart;
let histogramChart;
let binWidth = 1;

function themeColor(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function axis(label) {
  const grid = { stroke: themeColor('--grid'), width: 1 };
  return { label, stroke: themeColor('--muted'), grid, ticks: grid };
}

function fromZero(u, min, max) {
  return [0, max > 0 ? max * 1.1 : 1];
}

function createCharts() {
  const accent = themeColor('--accent');
  const accentFill = themeColor('--accent-fill');
  const delayEl = byId('chart-delay');
  delayChart = new uPlot({
    width: delayEl.clientWidth,
    height: CHART_HEIGHT,
    scales: { y: { range: fromZero } },
    axes: [axis(''), axis('ms')],
    series: [{}, { label: 'Delay', stroke: accent, width: 2, value: (u, v) => withUnit(v) }],
  }, [[], []], delayEl);

  const histogramEl = byId('chart-histogram');
  histogramChart = new uPlot({
    width: histogramEl.clientWidth,
    height: CHART_HEIGHT,
    scales: {
      x: { time: false, range: aroundBins },
      y: { range: fromZero },
    },
    axes: [axis('delay, ms'), axis('samples')],
    series: [
      { label: 'Delay', value: (u, v) => (v === null ? '—' : binLabel(v)) },
      { label: 'Samples', stroke: accent, fill: accentFill, paths: uPlot.paths.bars({ size: [0.9, Infinity] }), points: { show: false } },
    ],
  }, [[], []], histogramEl);

  new ResizeObserver(() => {
    delayChart.setSize({ width: delayEl.clientWidth, height: CHART_HEIGHT });
    histogramChart.setSize({ width: histogramEl.clientWidth, height: CHART_HEIGHT });
  }).observe(delayEl);
}

function aroundBins(u, min, max) {
  return min === null ? [0, 1] : [min - binWidth / 2, max + binWidth / 2];
}

function binLabel(center) {
  return `${(center - binWidth / 2).toFixed(1)}–${(center + binWidth / 2).toFixed(1)} ms`;
}

function renderCharts() {
  delayChart.setData([chartTimes, chartDelays]);
  const bins = histogramBins(delays.sorted);
  binWidth = bins.width;
  histogramChart.setData([bins.centers, bins.counts]);
  const note = byId('histogram-note');
  note.hidden = bins.beyond === 0;
  note.textContent = `${bins.beyond} slower samples (above p99) are left out so the bars stay readable.`;
}

// Bins of a "nice" width (1, 2 or 5 × 10^k ms) from the fastest sample to p99 — or to the
// slowest while there are too few samples for p99 to mean anything.
function histogramBins(sorted) {
  if (sorted.length === 0) return { centers: [], counts: [], width: 1, beyond: 0 };
  const low = sorted[0];
  const high = sorted.length >= 100 ? percentile(sorted, 99) : sorted.at(-1);
  const width = niceWidth((high - low) / HISTOGRAM_TARGET_BINS);
  const start = Math.floor(low / width) * width;
  const binCount = Math.floor((high - start) / width) + 1;
  const counts = new Array(binCount).fill(0);
  let beyond = 0;
  for (const value of sorted) {
    const bin = Math.floor((value - start) / width);
    if (bin < binCount) counts[bin] += 1;
    else beyond += 1;
  }
  const centers = counts.map((_, i) => start + (i + 0.5) * width);
  return { centers, counts, width, beyond };
}

function niceWidth(raw) {
  const wanted = Math.max(raw, HISTOGRAM_MIN_BIN_MS);
  const power = 10 ** Math.floor(Math.log10(wanted));
  return [1, 2, 5, 10].map((m) => m * power).find((w) => w >= wanted);
}

setUpControls();
createCharts();
renderFigures();
socket = new LiveSocket(config.ws_path, { onMessage, onStateChange });
