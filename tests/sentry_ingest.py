"""A stand-in for Sentry's ingest: an HTTP server on 127.0.0.1 that records every event posted.

sentry-sdk posts envelopes to /api/<project>/envelope/, compressed with brotli when the
`brotli` module is installed, else gzip: a header line, then for each item a header line and a
payload line, all JSON.
"""

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DECOMPRESS = {"gzip": gzip.decompress}
try:
    import brotli

    DECOMPRESS["br"] = brotli.decompress
except ImportError:  # then sentry-sdk cannot send brotli either
    pass


class SentryIngest:
    def __init__(self):
        self.events: list[dict] = []
        self._lock = threading.Lock()
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = DECOMPRESS.get(self.headers.get("Content-Encoding", ""), bytes)(body)
                ingest.record(self.path, body)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass  # quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.dsn = f"http://public@127.0.0.1:{self.server.server_address[1]}/1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "SentryIngest":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def record(self, path: str, body: bytes) -> None:
        if not path.startswith("/api/1/envelope/"):
            return
        lines = body.split(b"\n")
        # Items alternate: an item header ({"type": "event", ...}), then its payload.
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if header.strip() and json.loads(header).get("type") == "event":
                with self._lock:
                    self.events.append(json.loads(payload))

    def exceptions(self) -> list[tuple[str, str]]:
        """(type, value) of every exception received, in order."""
        with self._lock:
            events = list(self.events)
        return [
            (exc["type"], exc["value"]) for event in events for exc in (event.get("exception") or {}).get("values", [])
        ]

    def wait_for_event(self, matches, timeout: float = 10.0) -> dict:
        """The first event for which `matches(event)` is true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [event for event in self.events if matches(event)]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no matching event reached the ingest; got {self.exceptions()}")

    def wait_for(self, exception_type: str, value: str, timeout: float = 10.0) -> dict:
        """The first event whose exception is `exception_type` with `value` in its message."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for event in self.events:
                    for exc in (event.get("exception") or {}).get("values", []):
                        if exc["type"] == exception_type and value in exc["value"]:
                            return event
            time.sleep(0.05)
        raise AssertionError(f"no {exception_type}({value!r}) reached the ingest; got {self.exceptions()}")
