// The private page: measures this browser's WebSocket round trip, one ping at a time, and shows
// the figures, a live chart, a histogram and downloads. Nothing measured here leaves the browser.

import uPlot from '../vendor/uplot/uPlot.esm.min.js';
import { countAxis, timeAxis } from './chartaxes.js';
import { oncePerFrame } from './frames.js';
import { Pinger } from './pinger.js';
import { setUpShare } from './share.js';
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

let socket; // opened at the bottom, once the controls and charts exist
let pinger;

function onMessage(message, receivedAt) {
  if (message.type === 'pong') {
    pinger.onPong(message, receivedAt);
  } else if (message.type === 'error') {
    console.warn(`server refused a frame: ${message.code}: ${message.detail}`);
  }
}

function onStateChange(state) {
  renderState(byId('conn-state'), state);
  pinger.onStateChange(state);
}

// ---------------------------------------------------------------- controls

function setUpControls() {
  const pause = byId('pause');
  pause.addEventListener('click', () => {
    pinger.setPaused(!pinger.paused);
    pause.textContent = pinger.paused ? 'Resume' : 'Pause';
    pause.setAttribute('aria-pressed', String(pinger.paused));
  });
  const interval = byId('interval');
  for (const ms of config.intervals_ms) {
    interval.append(new Option(intervalLabel(ms), String(ms), false, ms === config.default_interval_ms));
  }
  interval.addEventListener('change', () => pinger.setInterval(Number(interval.value)));
  byId('download-csv').addEventListener('click', () => download('csv', 'text/csv', samplesCsv()));
  byId('download-json').addEventListener('click', () => download('json', 'application/json', samplesJson()));
  setUpShare(byId('share-form'), () => records);
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
  const document_ = { exported_at: Date.now(), interval_ms: pinger.intervalMs, samples, summary };
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

// Coalesced into one paint per frame.
const scheduleRender = oncePerFrame(() => {
  renderFigures();
  renderCharts();
});

function renderFigures() {
  const summary = delays.summary();
  showMs('current', lastDelay);
  byId('current-note').hidden = lastRecord?.status !== 'lost';
  for (const name of ['min', 'median', 'p95', 'p99', 'max', 'jitter']) showMs(`stat-${name}`, summary[name]);
  byId('stat-samples').textContent = String(summary.count);
  byId('stat-lost').textContent = String(lostCount);
  const pings = summary.count + lostCount;
  byId('stat-lost-share').textContent = pings ? `(${((100 * lostCount) / pings).toFixed(1)} %)` : '';
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
    axes: [{ ...axis(''), ...timeAxis }, axis('ms')],
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
    axes: [axis('delay, ms'), { ...axis('samples'), ...countAxis }],
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
pinger = new Pinger(socket, {
  intervalMs: config.default_interval_ms,
  lostAfterMs: config.lost_after_ms,
  onResult: recordPing,
});
