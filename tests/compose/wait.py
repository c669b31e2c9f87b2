"""Wait until the compose project is up: `python -m tests.compose.wait --timeout 300`.

Exits 0 once every service is healthy (every replica) and every one-shot has exited 0; 1 when
the timeout passes or something fails for good (a one-shot's non-zero exit, an unhealthy
container), printing what is missing. Progress goes to stderr every 15 s.
"""

import argparse
import sys
import time

from tests.compose.project import containers, failed, not_ready


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=300, help="seconds")
    deadline = time.monotonic() + parser.parse_args().timeout
    next_report = time.monotonic() + 15
    while True:
        running = containers()
        missing, broken = not_ready(running), failed(running)
        if not missing:
            return 0
        if broken or time.monotonic() > deadline:
            print("compose stack not ready:", *(broken or missing), sep="\n  ", file=sys.stderr)
            return 1
        if time.monotonic() > next_report:
            print("still waiting:", "; ".join(missing), file=sys.stderr)
            next_report += 15
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
