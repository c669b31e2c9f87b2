"""`python -m deploy.stack run|up|down|status`: what `make run`, `make up` and `make down` do.

The port comes from PORT (default 8000), Redis from REDIS_URL (default: a private
redis-server), and each port gets its own run directory .run/stack-<port>/.
"""

import argparse
import os
import sys
from pathlib import Path

from deploy.stack import REPO, Stack, StackError


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.stack", description=__doc__)
    parser.add_argument("command", choices=["run", "up", "down", "status"])
    command = parser.parse_args().command
    port = int(os.environ.get("PORT", "8000"))
    stack = Stack(
        run_dir=Path(os.environ.get("STACK_DIR", REPO / ".run" / f"stack-{port}")),
        port=port,
        redis_url=os.environ.get("REDIS_URL") or None,
    )
    try:
        return COMMANDS[command](stack)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def run(stack: Stack) -> int:
    """Foreground: supervisord replaces this process; Ctrl-C stops the whole stack."""
    stack.prepare()
    print(f"Ping App on {stack.url} — logs in {stack.run_dir / 'logs'} — Ctrl-C stops it", flush=True)
    os.execvpe("supervisord", stack.supervisord_command(foreground=True), stack.process_env())


def up(stack: Stack) -> int:
    stack.start()
    print(f"Ping App is up on {stack.url} (logs in {stack.run_dir / 'logs'}; `make down` stops it)")
    return 0


def down(stack: Stack) -> int:
    killed = stack.stop()
    if killed:
        print(f"stopped; had to kill leftover processes {killed}")
    else:
        print(f"stopped the stack on port {stack.port}" if stack.run_dir.exists() else "no stack was running")
    return 0


def status(stack: Stack) -> int:
    if not stack.is_running():
        print(f"no stack is running on port {stack.port}")
        return 1
    print(stack.ctl("status"), end="")
    return 0


COMMANDS = {"run": run, "up": up, "down": down, "status": status}

if __name__ == "__main__":
    sys.exit(main())
