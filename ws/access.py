"""Daphne's access lines through the logging system, so LOG_FORMAT=json makes them JSON too.

Daphne writes its access log (one line per HTTP request and per WebSocket connecting, connected,
rejected and disconnected) straight to a stream. ws/serve.py swaps in `LoggedAccess` when
LOG_FORMAT=json: the same message text, logged by `ws.access` at INFO with the fields apart.
"""

import logging

from daphne.access import AccessLogGenerator

log = logging.getLogger("ws.access")


class LoggedAccess(AccessLogGenerator):
    """Daphne's access log generator (it picks the entries), writing records instead of text."""

    def write_entry(self, host, date, request, status=None, length=None, ident=None, user=None) -> None:
        """One record per entry: the message is Daphne's request text ("WSCONNECT /ws/ping/")."""
        method, _, path = request.partition(" ")
        log.info(
            "%s %s %s",
            request,
            status or "-",
            length or "-",
            extra={"client": _client(host), "method": method, "path": path, "status": status},
        )


def _client(host) -> str | None:
    # Daphne passes [address, port], or None for a unix-socket peer without X-Forwarded-For.
    if isinstance(host, list | tuple) and host:
        return str(host[0])
    return None if host is None else str(host)
