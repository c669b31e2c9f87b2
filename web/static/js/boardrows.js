// Board rows come as arrays of values, named once per frame by its `columns` (docs/protocol.md):
// a `welcome` or `delays` frame becomes one whose rows are objects, as the page uses them.
export function withRowObjects(frame) {
  if (!frame.columns) return frame;
  const rows = frame.clients.map((values) => Object.fromEntries(frame.columns.map((column, i) => [column, values[i]])));
  return { ...frame, clients: rows };
}
