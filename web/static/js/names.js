// Names and text as the server counts and shows them (shared/protocol.py).
//
// Counting: code points, after `String.prototype.trim()`; the server's `trim` cuts exactly the
// same characters (tests/unit/test_names.py compares them over the whole BMP). A UTF-16 count
// (`.length`, `maxlength`) would take a 20-emoji name for 40 characters.
// Showing: every name goes in a <bdi> (its own bidi isolate, direction from its first strong
// character), so no name can flip the text around it; a guest's name carries a "guest" tag.
// The limits themselves come from the server in each page's config.

export function codePoints(text) {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

// null when `text` (already trimmed) is 1 to `max` characters, else a sentence saying why not.
export function lengthProblem(text, max, what) {
  const count = codePoints(text);
  if (count === 0) return `${what} is 1 to ${max} characters; this one is empty.`;
  if (count > max) return `${what} is 1 to ${max} characters; this one has ${count}.`;
  return null;
}

// <bdi class="name">name</bdi>, as text (never markup).
export function nameElement(name) {
  const bdi = document.createElement('bdi');
  bdi.className = 'name';
  bdi.textContent = name;
  return bdi;
}

// The name, then a small "guest" tag for a visitor without an account.
export function nameWithTag(name, guest) {
  const parts = [nameElement(name)];
  if (guest) parts.push(' ', guestTag());
  return parts;
}

export function guestTag() {
  const tag = document.createElement('span');
  tag.className = 'tag-guest';
  tag.title = 'A visitor without an account: the name is their own choice';
  tag.textContent = 'guest';
  return tag;
}
