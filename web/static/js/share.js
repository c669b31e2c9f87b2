// "Share this result" on the private page: posts a summary's raw material (the delays in send
// order, the lost count, the time range) to /r/; the server computes and stores the figures and
// answers with a permalink. Only what the page measured is sent: no name, no identifier.

// records: [{sentAtMs (epoch ms), delayMs|null, status}] in send order, status as in pinger.js:
// the counted samples ('ok') and the lost pings are sent; warm-up and discarded pings are not
// counted on the page, so not here either. At most `max` of the latest records are looked at
// (the server's limit). Null when nothing has been counted yet.
export function shareBody(records, max) {
  const recent = records.slice(-max);
  // To the microsecond: browsers measure to about 0.1 ms, and 20,000 delays stay near 200 KB.
  const delays = recent.filter((r) => r.status === 'ok').map((r) => Math.round(r.delayMs * 1000) / 1000);
  if (delays.length === 0) return null;
  const last = recent.at(-1);
  return {
    delays_ms: delays,
    lost: recent.filter((r) => r.status === 'lost').length,
    started_at_ms: recent[0].sentAtMs,
    ended_at_ms: last.sentAtMs + (last.delayMs ?? 0),
  };
}

// form: the share <form> (action /r/, a CSRF token inside, data-max-samples); readRecords():
// the page's records now.
export function setUpShare(form, readRecords) {
  const status = form.querySelector('.share__status');
  const token = form.querySelector('input[name=csrfmiddlewaretoken]').value;
  const button = form.querySelector('button[type=submit]');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = shareBody(readRecords(), Number(form.dataset.maxSamples));
    if (body === null) {
      show(status, 'Nothing to share yet: wait for a ping to come back.', true);
      return;
    }
    button.disabled = true;
    show(status, 'Sharing…');
    try {
      const response = await fetch(form.action, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': token },
        body: JSON.stringify(body),
        credentials: 'same-origin',
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        show(status, `Not shared: ${answer.error ?? `the server answered ${response.status}`}`, true);
        return;
      }
      showLink(status, new URL(answer.url, location.href).href);
    } catch {
      show(status, 'Not shared: the server could not be reached. Try again.', true);
    } finally {
      button.disabled = false;
    }
  });
}

function show(status, text, isError = false) {
  status.hidden = false;
  status.classList.toggle('form-error', isError);
  status.replaceChildren(text);
}

function showLink(status, href) {
  const link = document.createElement('a');
  link.href = href;
  link.className = 'share__link';
  link.textContent = href;
  const copy = document.createElement('button');
  copy.type = 'button';
  copy.className = 'button button--small button--secondary';
  copy.textContent = 'Copy link';
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(href);
      copy.textContent = 'Copied';
    } catch {
      getSelection().selectAllChildren(link); // no clipboard (plain http): select it instead
    }
  });
  status.hidden = false;
  status.classList.remove('form-error');
  status.replaceChildren('Shared: ', link, ' ', copy);
}
