// Axis options for uPlot that people can read: clock times to the second (never ":46.250"),
// and counts in whole numbers (never "0.25 samples"). Spread into an axis: {...axis, ...countAxis}.

// Tick steps uPlot may pick from, in the scale's unit (seconds, counts).
export const SECOND_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
export const COUNT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6];

// "14:03:05" for epoch seconds, in the visitor's time zone, 24 h.
export function clockLabel(epochSeconds) {
  const d = new Date(epochSeconds * 1000);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

export function countLabel(value) {
  return Number.isInteger(value) ? String(value) : '';
}

export const timeAxis = {
  incrs: SECOND_INCRS,
  space: 70, // px between ticks: room for "14:03:05"
  values: (u, splits) => splits.map((s) => (s === null ? '' : clockLabel(s))),
};

export const countAxis = {
  incrs: COUNT_INCRS,
  values: (u, splits) => splits.map((s) => (s === null ? '' : countLabel(s))),
};
