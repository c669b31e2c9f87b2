"""The local stack: nginx, Gunicorn, two Daphne workers and (unless REDIS_URL is set) a private
redis-server, run by supervisor from one run directory, so that several stacks can live side by
side (a developer's, the tests', the benchmark's) and each stops exactly its own processes.

`make run` / `make up` / `make down` call the CLI in __main__.py; tests and the benchmark use
`Stack` directly.
"""

import getpass
import http.client
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

# nginx's worker_rlimit_nofile (nginx/nginx.conf.template): the stack's processes need this many
# file descriptors to hold the sockets they are sized for (docs/operations.md, "Capacity").
WANTED_FDS = 65536

REPO = Path(__file__).resolve().parents[2]
NGINX_TEMPLATE = REPO / "nginx" / "nginx.conf.template"
SUPERVISORD_TEMPLATE = Path(__file__).with_name("supervisord.conf.template")
WS_WORKERS = (1, 2)
# Marks every process of a stack (in its environment), so `down` can prove none is left.
STACK_MARKER = "PING_STACK_DIR"
_PLACEHOLDER = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


class StackError(RuntimeError):
    """The stack could not start or stop; the message says what to look at."""


def min_fds(wanted: int = WANTED_FDS) -> int:
    """supervisord's `minfds`: WANTED_FDS, or the hard limit when this process may not raise it
    (supervisord would refuse to start rather than run with less; root without
    CAP_SYS_RESOURCE, as in some containers, may not raise it either)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard >= wanted:
        return wanted
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, wanted))
        return wanted
    except (OSError, ValueError):
        print(
            f"file descriptors: the hard limit is {hard}, below {wanted}; the stack holds fewer sockets",
            file=sys.stderr,
        )
        return hard


def render(template: str, values: dict[str, str]) -> str:
    """Fill ${NAME} placeholders like envsubst does, but refuse to leave any unfilled."""
    missing = sorted(set(_PLACEHOLDER.findall(template)) - values.keys())
    if missing:
        raise StackError(f"no value for {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda match: values[match[1]], template)


@dataclass
class Stack:
    run_dir: Path
    port: int = 8000
    # None: a private redis-server on a unix socket inside run_dir.
    redis_url: str | None = None
    # Extra environment for every process (DATABASE_URL, WS_ASGI_APP, limits...).
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or f"unix://{self.run_dir / 'redis.sock'}"

    def ws_socket(self, worker: int) -> Path:
        return self.run_dir / f"ws-{worker}.sock"

    @property
    def metrics_dir(self) -> Path:
        """Prometheus multiprocess files of every process of this stack (shared/metrics.py)."""
        return self.run_dir / "metrics"

    def log(self, program: str) -> Path:
        return self.run_dir / "logs" / f"{program}.log"

    # ------------------------------------------------------------ preparing

    def process_env(self) -> dict[str, str]:
        """The environment of every process of this stack (and of its migrate step)."""
        venv_bin = str(Path(sys.executable).parent)
        return {
            **os.environ,
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "DJANGO_SETTINGS_MODULE": "shared.settings",
            "PYTHONUNBUFFERED": "1",
            "REDIS_URL": self.effective_redis_url,
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            STACK_MARKER: str(self.run_dir),
            **self.env,
        }

    def prepare(self) -> None:
        """Write the configs, migrate and collect static files: everything short of starting."""
        if self.is_running():
            raise StackError(f"a stack is already running from {self.run_dir}: stop it with `make down`")
        if not _port_is_free(self.port):
            raise StackError(f"port {self.port} is in use: another stack? (`make down`, or set PORT)")
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        for stale in self.run_dir.glob("*.sock"):
            stale.unlink()
        # A previous run's metrics would add to this one's.
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        self.metrics_dir.mkdir()
        values = self._template_values()
        (self.run_dir / "nginx.conf").write_text(render(NGINX_TEMPLATE.read_text(), values))
        (self.run_dir / "supervisord.conf").write_text(render(SUPERVISORD_TEMPLATE.read_text(), values))
        self._manage("migrate", "--noinput", "-v", "0")
        self._manage("collectstatic", "--noinput", "-v", "0")

    def _template_values(self) -> dict[str, str]:
        env = self.process_env()
        return {
            "REPO": str(REPO),
            "RUN_DIR": str(self.run_dir),
            "NGINX_PORT": str(self.port),
            "NGINX_USER": getpass.getuser(),
            "NGINX_RUN_DIR": str(self.run_dir),
            # The same default as shared/settings.py: RUN_DIR/static.
            "STATIC_ROOT": env.get("STATIC_ROOT") or str(Path(env.get("RUN_DIR", REPO / ".run")) / "static"),
            "WEB_SERVERS": f"server unix:{self.run_dir / 'web.sock'};",
            # max_fails=0: a worker that is down, draining or restarting refuses a unix socket at
            # once; nginx then tries the other instead of setting it aside for 10 s (the default
            # after one failure), which would keep pages waiting after the workers are back and,
            # in a rolling restart, leave no worker to go to (502s). Likewise a worker whose
            # accept queue overflowed for a moment in a connect storm (docs/operations.md).
            "WS_SERVERS": " ".join(f"server unix:{self.ws_socket(n)} max_fails=0;" for n in WS_WORKERS),
            "PRIVATE_REDIS": "false" if self.redis_url else "true",
            **brotli_static_values(),
            # nginx's access lines follow the app's LOG_FORMAT (text or json).
            "NGINX_LOG_FORMAT": env.get("LOG_FORMAT") or "text",
            "MIN_FDS": str(min_fds()),
        }

    def _manage(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "django", *args], cwd=REPO, env=self.process_env(), capture_output=True, text=True
        )
        if done.returncode != 0:
            raise StackError(f"django-admin {' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    # ------------------------------------------------------------ running

    def supervisord_command(self, foreground: bool) -> list[str]:
        return ["supervisord", *(["--nodaemon"] if foreground else []), "-c", str(self.run_dir / "supervisord.conf")]

    def start(self, timeout: float = 60.0) -> None:
        """Start in the background and return once nginx, Gunicorn and both Daphne workers answer."""
        self.prepare()
        subprocess.run(self.supervisord_command(foreground=False), env=self.process_env(), check=True, cwd=REPO)
        try:
            self.wait_until_ready(timeout)
        except StackError:
            self.stop()
            raise

    def wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.is_ready():
            if time.monotonic() > deadline:
                raise StackError(f"the stack did not answer within {timeout:.0f} s:\n{self.diagnosis()}")
            time.sleep(0.2)

    def is_ready(self) -> bool:
        web = _http_status(("127.0.0.1", self.port), "/healthz") == 200
        return web and all(self.worker_is_ready(n) for n in WS_WORKERS)

    def worker_is_ready(self, worker: int) -> bool:
        return _http_status(self.ws_socket(worker), "/healthz") == 200

    def ctl(self, *args: str) -> str:
        """Run supervisorctl on this stack: ctl("restart", "ws:*"), ctl("stop", "redis")."""
        done = subprocess.run(
            ["supervisorctl", "-c", str(self.run_dir / "supervisord.conf"), *args],
            env=self.process_env(),
            capture_output=True,
            text=True,
        )
        return done.stdout + done.stderr

    def pid_of(self, program: str) -> int:
        return int(self.ctl("pid", program).strip())

    def diagnosis(self) -> str:
        tails = [f"--- {path.name}\n{_tail(path)}" for path in sorted((self.run_dir / "logs").glob("*.log"))]
        return "\n".join([self.ctl("status"), *tails])

    # ------------------------------------------------------------ stopping

    def supervisord_pid(self) -> int | None:
        try:
            pid = int((self.run_dir / "supervisord.pid").read_text())
        except (OSError, ValueError):
            return None
        return pid if psutil.pid_exists(pid) else None

    def is_running(self) -> bool:
        return self.supervisord_pid() is not None

    def stop(self, timeout: float = 30.0) -> list[int]:
        """Stop supervisord and every process it started; returns pids it had to kill by force."""
        pid = self.supervisord_pid()
        if pid is not None:
            self.ctl("shutdown")
            _wait_gone([pid], timeout)
        leftovers = list(self.processes())
        for process in leftovers:
            process.send_signal(signal.SIGKILL)
        _wait_gone([p.pid for p in leftovers], 5)
        return [p.pid for p in leftovers]

    def processes(self) -> Iterator[psutil.Process]:
        """Every live process that belongs to this stack (by the marker in its environment)."""
        for process in psutil.process_iter():
            try:
                if process.environ().get(STACK_MARKER) == str(self.run_dir):
                    yield process
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue

    def remove(self) -> None:
        shutil.rmtree(self.run_dir, ignore_errors=True)


BROTLI_STATIC_MODULE = Path("/usr/lib/nginx/modules/ngx_http_brotli_static_module.so")


def brotli_static_values(module: Path = BROTLI_STATIC_MODULE) -> dict[str, str]:
    """nginx sends collectstatic's .br files only with Debian's libnginx-mod-http-brotli-static;
    without it both placeholders are empty and browsers get the .gz files."""
    if not module.exists():
        return {"NGINX_LOAD_MODULES": "", "NGINX_BROTLI_STATIC": ""}
    return {"NGINX_LOAD_MODULES": f"load_module {module};", "NGINX_BROTLI_STATIC": "brotli_static on;"}


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _http_status(target: tuple[str, int] | Path, path: str, timeout: float = 2.0) -> int | None:
    """Status of GET path on a TCP address or a unix socket; None when nothing answers."""
    if isinstance(target, Path):
        conn: http.client.HTTPConnection = _UnixHTTPConnection(target, timeout)
    else:
        conn = http.client.HTTPConnection(*target, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def _wait_gone(pids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(psutil.pid_exists(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
