"""The container health check of web and ws: `python -m shared.healthz <port>`.

Exits 0 when http://127.0.0.1:<port>/healthz answers 200 within 4 s, else 1 with the reason on
stderr. Gunicorn's /healthz is 200 only when the database and Redis answer; Daphne's says the
event loop serves HTTP. A module rather than `python -c "<code>"`, so that the health check is
an argument list without spaces: podman's Docker-compatible API splits a check's arguments at
spaces, which turned the inline code into a syntax error.
"""

import sys
import urllib.request


def probe(port: int, timeout: float = 4) -> str | None:
    """None when /healthz on 127.0.0.1:port answers 200, else why not."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as response:
            return None if response.status == 200 else f"status {response.status}"
    except OSError as error:  # URLError, HTTPError (non-2xx), timeouts, refused connections
        return str(error)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m shared.healthz <port>", file=sys.stderr)
        return 2
    failure = probe(int(argv[0]))
    if failure:
        print(f"unhealthy: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
