// The private page: measures this browser's WebSocket round trip, one ping at a time, and shows
// the figures, a live chart, a histogram and downloads. Nothing measured here leaves the browser.

import uPlot from '../vendor/uplot/uPlot.esm.min.js';
import { countAxis, timeAxis } from './chartaxes.js';
import { oncePerFrame } from './frames.js';
import { byId, config, formatMs, logRefusal, openSocket, themeColor } from './page.js';
import { Pinger, followVisibility } from './pinger.js';
import { setUpShare } from './share.js';
import { SortedSamples, percentile, samplesNeeded } from './stats.js';

const CHART_WINDOW_S = 300; // the delay chart shows the last five minutes
const HISTOGRAM_TARGET_BINS = 30;
const HISTOGRAM_MIN_BIN_MS = 0.1; // browsers round performance.now() to about 0.1 ms
const CHART_HEIGHT = 260;

// ---------------------------------------------------------------- what was measured

// Every resolved ping in send order: {seq, sentAtMs, delayMs|null, status}, status as in
// pinger.js: 'ok' (counted), 'warmup' (shown, not counted), 'lost', 'discarded' (no delay).
const records = [];
const delays = new SortedSamples(); // the counted samples: status 'ok' only
const tally = { lost: 0, discarded: 0, warmup: 0 };
let lastRecord = null;
let lastDelay = null; // the latest delay actually measured (counted or warm-up)
const chartTimes = []; // epoch seconds (uPlot's time unit) within the chart window
const chartDelays = []; // null for a lost or discarded ping or an outage: uPlot draws a gap

// Epoch ms on the pings' clock (pinger.js: timeOrigin + performance.now()), so outages and pings
// sort together on the chart and in the downloads.
const epochNow = () => performance.timeOrigin + performance.now();

// Outages: from the first moment the socket is not open after having been open, to its reopening.
const outages = []; // {startedAtMs, endedAtMs|null}
let everOpen = false;
let outageTicker = null;

function recordPing(result) {
  const { seq, sentAtMs, delayMs, status } = result;
  lastRecord = { seq, sentAtMs, delayMs, status };
  records.push(lastRecord);
  if (status === 'ok') delays.add(delayMs);
  else tally[status] += 1;
  if (delayMs !== null) lastDelay = delayMs;
  chartPoint(sentAtMs, delayMs);
  scheduleRender();
}

function chartPoint(atMs, delayMs) {
  chartTimes.push(atMs / 1000);
  chartDelays.push(delayMs);
  while (chartTimes[0] < chartTimes.at(-1) - CHART_WINDOW_S) {
    chartTimes.shift();
    chartDelays.shift();
  }
}

function currentOutage() {
  const last = outages.at(-1);
  return last && last.endedAtMs === null ? last : null;
}

function noteConnection(state) {
  if (state.name === 'open') {
    everOpen = true;
    const outage = currentOutage();
    if (outage) outage.endedAtMs = epochNow();
    clearInterval(outageTicker);
  } else if (everOpen && !currentOutage()) {
    const startedAtMs = epochNow();
    outages.push({ startedAtMs, endedAtMs: null });
    chartPoint(startedAtMs, null); // the line stops here: no straight line across the outage
    outageTicker = setInterval(scheduleRender, 1000); // its duration grows on the page
  }
  scheduleRender();
}

function outageMs(outage, now = epochNow()) {
  return (outage.endedAtMs ?? now) - outage.startedAtMs;
}

// ---------------------------------------------------------------- pinging

let pinger; // started at the bottom, once the controls and charts exist

function startPinging() {
  const socket = openSocket({ guestAllowed: true });
  pinger = new Pinger(socket, {
    intervalMs: config.default_interval_ms,
    lostAfterMs: config.lost_after_ms,
    onResult: recordPing,
  });
  socket.on('error', logRefusal);
  socket.on('statechange', noteConnection);
  followVisibility(pinger);
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

// One row per ping, and one per outage (status "outage", its start and duration_ms), in time order.
function samplesCsv() {
  const lines = ['seq,sent_at_ms,sent_at_iso,delay_ms,status,duration_ms'];
  const rows = records.map((r) => ({ at: r.sentAtMs, seq: r.seq, delay: r.delayMs, status: r.status, duration: null }));
  for (const o of outages) rows.push({ at: o.startedAtMs, seq: '', delay: null, status: 'outage', duration: outageMs(o) });
  rows.sort((a, b) => a.at - b.at);
  for (const r of rows) {
    const delay = r.delay === null ? '' : r.delay.toFixed(3);
    const duration = r.duration === null ? '' : r.duration.toFixed(0);
    lines.push(`${r.seq},${r.at.toFixed(3)},${new Date(r.at).toISOString()},${delay},${r.status},${duration}`);
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
  const outageList = outages.map((o) => ({
    started_at_ms: roundTo3(o.startedAtMs),
    ended_at_ms: o.endedAtMs === null ? null : roundTo3(o.endedAtMs),
    duration_ms: roundTo3(outageMs(o)),
  }));
  const summary = { ...shownSummary(), ...tally, outages: outages.length, outage_ms: totalOutageMs() };
  for (const [name, value] of Object.entries(summary)) summary[name] = value === null ? null : roundTo3(value);
  const document_ = { exported_at: Date.now(), interval_ms: pinger.intervalMs, samples, outages: outageList, summary };
  return JSON.stringify(document_, null, 2);
}

// The counted samples' figures, without a percentile that has too few samples to mean anything.
function shownSummary() {
  const summary = delays.summary();
  for (const name of ['p95', 'p99']) if (samplesNeeded(summary.count, name) > 0) summary[name] = null;
  return summary;
}

function totalOutageMs() {
  const now = epochNow();
  return outages.reduce((total, outage) => total + outageMs(outage, now), 0);
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

const CURRENT_NOTES = {
  lost: 'The last ping was lost.',
  discarded: 'The last ping was discarded: the page was busy, frozen or hidden while it was in flight.',
  warmup: 'A warm-up ping (the first after connecting): shown, not counted.',
};

function renderFigures() {
  const summary = shownSummary();
  showMs('current', lastDelay);
  const note = byId('current-note');
  note.textContent = CURRENT_NOTES[lastRecord?.status] ?? '';
  note.hidden = note.textContent === '';
  for (const name of ['min', 'median', 'p95', 'p99', 'max', 'jitter']) showMs(`stat-${name}`, summary[name]);
  for (const name of ['p95', 'p99']) {
    const needed = samplesNeeded(summary.count, name);
    const need = byId(`stat-${name}-need`);
    need.hidden = needed === 0;
    need.textContent = `${needed} more samples`;
  }
  byId('stat-samples').textContent = String(summary.count);
  byId('stat-lost').textContent = String(tally.lost);
  const pings = summary.count + tally.lost;
  byId('stat-lost-share').textContent = pings ? `(${((100 * tally.lost) / pings).toFixed(1)} %)` : '';
  byId('stat-discarded').textContent = String(tally.discarded);
  byId('stat-outages').textContent = String(outages.length);
  byId('stat-outage-time').textContent = (totalOutageMs() / 1000).toFixed(1);
  renderStale();
}

// While disconnected every figure is from before the outage: say so, and grey them out.
function renderStale() {
  const outage = currentOutage();
  for (const el of document.querySelectorAll('[data-figures]')) el.classList.toggle('is-stale', outage !== null);
  const note = byId('stale-note');
  note.hidden = outage === null;
  if (outage) {
    const since = new Date(outage.startedAtMs).toLocaleTimeString();
    note.textContent = `Disconnected since ${since}: these figures are from before the outage.`;
  }
}

function showMs(id, value) {
  byId(id).textContent = formatMs(value);
}

function withUnit(value) {
  return value === null || value === undefined ? '—' : `${value.toFixed(1)} ms`;
}

// ---------------------------------------------------------------- charts (uPlot)

let delayChart;
let histogramChart;
let binWidth = 1;

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
    // spanGaps false: a null (a lost or discarded ping, an outage) breaks the line.
    series: [{}, { label: 'Delay', stroke: accent, width: 2, spanGaps: false, value: (u, v) => withUnit(v) }],
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
  // How many breaks the line has (lost or discarded pings, outages), for people and tests.
  byId('chart-delay').dataset.gaps = String(chartDelays.filter((value) => value === null).length);
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
startPinging();
