// Board rows come as arrays of values, named once per frame by its `columns` (docs/protocol.md):
// a `welcome` or `delays` frame becomes one whose rows are objects, as the page uses them. A row
// that is an object already (written to Redis by an older worker, during a deploy) stays as it is.
export function withRowObjects(frame) {
  if (!frame.columns) return frame;
  const rows = frame.clients.map((values) =>
    Array.isArray(values) ? Object.fromEntries(frame.columns.map((column, i) => [column, values[i]])) : values,
  );
  return { ...frame, clients: rows };
}
