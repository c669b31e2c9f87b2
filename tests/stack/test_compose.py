"""docker-compose.yml and the Dockerfile, proved statically (no Docker engine needed).

`docker-compose config` validates and resolves the compose file; the tests then check that the
containers run what the local stack runs (the same start scripts, the same nginx template) and
that the template, filled with compose's values, is a valid nginx config.
"""

import configparser
import getpass
import os
import re
import runpy
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.stack import NGINX_TEMPLATE, REPO, SUPERVISORD_TEMPLATE, render

COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
APP_SERVICES = ("migrate", "publish-static", "web", "ws")
LONG_RUNNING = ("redis", "postgres", "web", "ws", "nginx")
ONE_SHOTS = ("migrate", "publish-static")
TEST_SECRET_KEY = "compose-test-" + "k" * 50
# What the nginx image itself defines besides compose's environment (its envsubst step sees
# these names too); versions are placeholders, only the names matter.
NGINX_IMAGE_ENV = {"NGINX_VERSION": "1.27.0", "NJS_VERSION": "0.8.0", "NJS_RELEASE": "1", "PKG_RELEASE": "1"}
PLACEHOLDER = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
NGINX_VARIABLE = re.compile(r"\$[a-z_][a-z0-9_]*")


# ---------------------------------------------------------------- helpers


def _docker_compose(args: list[str], env: dict[str, str], env_file: Path) -> subprocess.CompletedProcess[str]:
    """docker-compose with only the given environment, and an empty .env so a developer's own
    .env (which may hold a SECRET_KEY) cannot change the outcome."""
    program = shutil.which("docker-compose")
    if program is None:
        pytest.fail("docker-compose is not installed: `make test` installs it (apt-get install docker-compose)")
    base_env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    command = [program, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args]
    return subprocess.run(command, cwd=REPO, env={**base_env, **env}, capture_output=True, text=True, timeout=60)


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """target -> (source, read_only), from compose v1's short or v2's long volume syntax."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            mounts[volume["target"]] = (volume["source"], bool(volume.get("read_only")))
        else:
            source, target, *mode = volume.split(":")
            mounts[target] = (source, mode == ["ro"])
    return mounts


def _health_probe(service: dict[str, Any]) -> str:
    return " ".join(service["healthcheck"]["test"])


def _dockerfile_instructions(name: str) -> list[str]:
    lines = DOCKERFILE.read_text().splitlines()
    return [line.split(None, 1)[1].strip() for line in lines if line.upper().startswith(f"{name} ")]


def _supervisord_command(program: str) -> str:
    """The command the local stack runs for a program, relative to the repo."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(SUPERVISORD_TEMPLATE.read_text())
    return parser[f"program:{program}"]["command"].removeprefix("${REPO}/")


def _nginx() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def empty_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compose") / "empty.env"
    path.write_text("")
    return path


@pytest.fixture(scope="module")
def compose_run(empty_env_file: Path) -> subprocess.CompletedProcess[str]:
    return _docker_compose(["config"], {"SECRET_KEY": TEST_SECRET_KEY}, empty_env_file)


@pytest.fixture(scope="module")
def services(compose_run: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    if compose_run.returncode != 0:
        pytest.fail(f"docker-compose config failed:\n{compose_run.stderr}")
    return yaml.safe_load(compose_run.stdout)["services"]


@pytest.fixture(scope="module")
def nginx_env(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: str(value) for name, value in services["nginx"]["environment"].items()}


@pytest.fixture(scope="module")
def template() -> str:
    return NGINX_TEMPLATE.read_text()


# ---------------------------------------------------------------- the compose file is valid


def test_compose_config_accepts_the_file_when_secret_key_is_set(compose_run: subprocess.CompletedProcess[str]) -> None:
    """docker-compose validates and resolves the file once SECRET_KEY is given."""
    assert compose_run.returncode == 0, compose_run.stderr
    assert "services" in yaml.safe_load(compose_run.stdout)


def test_compose_refuses_to_render_without_secret_key(empty_env_file: Path) -> None:
    """Without SECRET_KEY nothing starts, and the error says what to set."""
    done = _docker_compose(["config"], {}, empty_env_file)
    assert done.returncode != 0
    assert "SECRET_KEY" in done.stderr


def test_compose_defines_every_service_of_the_design(services: dict[str, dict[str, Any]]) -> None:
    """redis, postgres, migrate, web, ws and nginx are all there, as in the local stack."""
    assert {"redis", "postgres", "migrate", "web", "ws", "nginx"} <= services.keys()


# ---------------------------------------------------------------- health, restarts, order


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_service_has_a_health_check_and_restarts(services: dict[str, dict[str, Any]], name: str) -> None:
    """Every server container is probed and comes back after a crash or a reboot."""
    assert services[name]["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}
    assert services[name]["restart"] == "unless-stopped"


@pytest.mark.parametrize("name", ONE_SHOTS)
def test_one_shot_service_runs_once(services: dict[str, dict[str, Any]], name: str) -> None:
    """A one-shot is never restarted, so services waiting for it to complete can start."""
    assert services[name]["restart"] == "no"


@pytest.mark.parametrize(("name", "port"), [("web", 8000), ("ws", 8001)])
def test_app_health_check_calls_healthz_on_its_own_port(
    services: dict[str, dict[str, Any]], name: str, port: int
) -> None:
    """Gunicorn and Daphne are each asked for /healthz where they listen, with python (slim has
    no curl); shared.healthz calls http://127.0.0.1:<port>/healthz (tests/unit/test_healthz.py)."""
    assert services[name]["healthcheck"]["test"] == ["CMD", "python", "-m", "shared.healthz", str(port)]


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_health_check_is_an_argument_list_without_spaces(services: dict[str, dict[str, Any]], name: str) -> None:
    """CMD and arguments with no whitespace in any of them: podman's Docker-compatible API splits
    a check's arguments at spaces, which broke `python -c "<code>"` (the check never passed)."""
    test = services[name]["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert [argument for argument in test[1:] if re.search(r"\s", argument)] == []


def test_migrate_runs_migrations_once_redis_and_postgres_are_healthy(services: dict[str, dict[str, Any]]) -> None:
    """The schema is brought up to date against a database that already answers."""
    migrate = services["migrate"]
    assert _command(migrate) == ["python", "-m", "django", "migrate", "--noinput"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["depends_on"]["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", ["web", "ws"])
def test_app_server_starts_only_after_migrations_succeed(services: dict[str, dict[str, Any]], name: str) -> None:
    """Neither Gunicorn nor Daphne ever serves against an old schema."""
    assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_nginx_starts_once_static_files_are_published_and_both_servers_are_healthy(
    services: dict[str, dict[str, Any]],
) -> None:
    """nginx resolves `web` and `ws` at start, so both must be up (and the static files in place) first."""
    depends_on = services["nginx"]["depends_on"]
    assert depends_on["web"]["condition"] == "service_healthy"
    assert depends_on["ws"]["condition"] == "service_healthy"
    assert depends_on["publish-static"]["condition"] == "service_completed_successfully"


# ---------------------------------------------------------------- the same processes as the local stack


@pytest.mark.parametrize("role", ["web", "ws"])
def test_container_runs_the_same_start_script_as_the_local_stack(
    services: dict[str, dict[str, Any]], role: str
) -> None:
    """compose's web/ws run the scripts supervisor runs locally, so both stacks start the same way."""
    assert _command(services[role]) == [f"{role}/start"]
    assert _supervisord_command(role) == f"{role}/start"
    assert os.access(REPO / role / "start", os.X_OK)


def test_ws_runs_two_replicas(services: dict[str, dict[str, Any]]) -> None:
    """Two Daphne workers behind nginx, as in the local stack."""
    assert services["ws"]["deploy"]["replicas"] == 2


def test_ws_can_be_scaled(services: dict[str, dict[str, Any]]) -> None:
    """No published port and no fixed container name, either of which would stop a second replica."""
    assert "ports" not in services["ws"]
    assert "container_name" not in services["ws"]


def test_app_services_share_one_image_and_one_environment(services: dict[str, dict[str, Any]]) -> None:
    """migrate, publish-static, web and ws run one image with the same settings and secret."""
    app = [services[name] for name in APP_SERVICES]
    assert len({service["image"] for service in app}) == 1
    assert all(service["environment"] == app[0]["environment"] for service in app)
    assert app[0]["environment"]["SECRET_KEY"] == TEST_SECRET_KEY


def test_app_reaches_postgres_and_redis_by_service_name(services: dict[str, dict[str, Any]]) -> None:
    """DATABASE_URL and REDIS_URL point at the compose services, not at localhost."""
    environment = services["web"]["environment"]
    assert environment["DATABASE_URL"].startswith("postgres://ping:")
    assert "@postgres:5432/ping" in environment["DATABASE_URL"]
    assert environment["REDIS_URL"] == "redis://redis:6379/0"


def test_health_probe_host_is_always_allowed(services: dict[str, dict[str, Any]]) -> None:
    """The probes call 127.0.0.1, which Django must accept even when ALLOWED_HOSTS names the real host."""
    assert "127.0.0.1" in services["web"]["environment"]["ALLOWED_HOSTS"].split(",")


def test_optional_settings_stay_unset_unless_given(services: dict[str, dict[str, Any]]) -> None:
    """Tuning variables pass through as unset, so shared/settings.py's defaults apply (an empty
    string would be refused by its typed readers)."""
    environment = services["web"]["environment"]
    for name in ("WS_RATE_PER_SECOND", "WS_RATE_BURST", "WEB_CONCURRENCY", "SECURE_COOKIES"):
        assert environment[name] is None, name


def test_postgres_keeps_its_data_in_a_named_volume(services: dict[str, dict[str, Any]]) -> None:
    """Recreating the postgres container keeps users and chat history."""
    source, _ = _mounts(services["postgres"])["/var/lib/postgresql/data"]
    assert source == "postgres-data"


# ---------------------------------------------------------------- nginx and its template


def test_nginx_mounts_the_template_the_local_stack_renders(
    services: dict[str, dict[str, Any]], nginx_env: dict[str, str]
) -> None:
    """One nginx template for both stacks; the image's entrypoint renders it to /etc/nginx/nginx.conf."""
    source, read_only = _mounts(services["nginx"])["/etc/nginx/templates/nginx.conf.template"]
    assert Path(source) == NGINX_TEMPLATE
    assert read_only
    assert nginx_env["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx"


def test_nginx_environment_fills_every_template_placeholder(template: str, nginx_env: dict[str, str]) -> None:
    """envsubst leaves an undefined ${NAME} as it is, which nginx would reject: compose defines each one."""
    placeholders = set(PLACEHOLDER.findall(template))
    assert placeholders, "the template has no ${NAME} placeholders: is it the right file?"
    assert placeholders <= nginx_env.keys()


def test_rendering_with_compose_values_keeps_nginx_variables(template: str, nginx_env: dict[str, str]) -> None:
    """$http_upgrade, $remote_addr and the rest survive rendering; no placeholder is left."""
    rendered = render(template, nginx_env)
    nginx_variables = set(NGINX_VARIABLE.findall(template))
    assert {"$http_upgrade", "$connection_upgrade", "$remote_addr", "$http_host"} <= nginx_variables
    assert nginx_variables <= set(NGINX_VARIABLE.findall(rendered))
    assert "${" not in rendered


def test_the_images_envsubst_renders_what_the_local_stack_renders(template: str, nginx_env: dict[str, str]) -> None:
    """The nginx image substitutes every variable defined in its environment; that gives the same
    config as deploy.stack.render, so no nginx $variable collides with an environment name."""
    envsubst = shutil.which("envsubst")
    if envsubst is None:
        pytest.skip("envsubst (gettext-base) is not installed")
    environment = {"PATH": "/usr/bin:/bin", "HOME": "/root", "HOSTNAME": "nginx", **NGINX_IMAGE_ENV, **nginx_env}
    defined = " ".join(f"${{{name}}}" for name in environment)
    done = subprocess.run([envsubst, defined], input=template, env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == render(template, nginx_env)


def test_nginx_tells_daphne_the_host_and_scheme_the_origin_check_compares(template: str) -> None:
    """A handshake is accepted only from the site's own origin (scheme, host, port): Daphne sees
    the browser's Host header with its port, and the scheme from nginx, never from the client."""
    ws_location = template.split("location /ws/", 1)[1].split("location /", 1)[0]
    assert "proxy_set_header Host $http_host;" in ws_location
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in ws_location
    assert "X-Forwarded-Host" not in template  # USE_X_FORWARDED_HOST stays off


def test_nginx_upstreams_are_the_ports_the_start_scripts_listen_on(nginx_env: dict[str, str]) -> None:
    """nginx sends pages to web:8000 and sockets to ws:8001, the defaults of gunicorn.conf.py and ws/start."""
    assert nginx_env["WEB_SERVERS"] == "server web:8000;"
    # max_fails=0: a draining worker, or one whose accept queue is full for a moment, is not
    # taken out for 10 s.
    assert nginx_env["WS_SERVERS"] == "server ws:8001 max_fails=0;"
    assert '"WEB_BIND", "0.0.0.0:8000"' in (REPO / "web" / "gunicorn.conf.py").read_text()
    assert "tcp:port=8001:interface=0.0.0.0" in (REPO / "ws" / "start").read_text()


def test_nginx_listens_on_the_port_compose_publishes(
    services: dict[str, dict[str, Any]], nginx_env: dict[str, str]
) -> None:
    """PORT (default 8000) on the host reaches the port nginx listens on, which its probe calls."""
    (port,) = services["nginx"]["ports"]
    assert int(port["target"]) == int(nginx_env["NGINX_PORT"]) == 80
    assert int(port["published"]) == 8000
    assert "http://127.0.0.1/healthz" in _health_probe(services["nginx"])


def test_nginx_serves_the_static_files_publish_static_copies_from_the_image(
    services: dict[str, dict[str, Any]], nginx_env: dict[str, str]
) -> None:
    """The image's collectstatic output reaches nginx's STATIC_ROOT through the `static` volume."""
    nginx_source, nginx_read_only = _mounts(services["nginx"])[nginx_env["STATIC_ROOT"]]
    publisher = services["publish-static"]
    source, target = _command(publisher)[-2:]
    assert (nginx_source, nginx_read_only) == ("static", True)
    assert _mounts(publisher)[target.rstrip("/")] == ("static", False)
    assert f"STATIC_ROOT={source.removesuffix('/.')}" in DOCKERFILE.read_text()
    assert "collectstatic" in DOCKERFILE.read_text()


def test_rendered_compose_config_is_valid_nginx(template: str, nginx_env: dict[str, str], tmp_path: Path) -> None:
    """`nginx -t` accepts the template filled with compose's values (paths, user and upstream hosts
    swapped for ones that exist on this machine)."""
    nginx = _nginx()
    if nginx is None:
        pytest.skip("nginx is not installed")
    (tmp_path / "static").mkdir()
    values = {
        **nginx_env,
        "NGINX_USER": getpass.getuser(),
        "NGINX_RUN_DIR": str(tmp_path),
        "STATIC_ROOT": str(tmp_path / "static"),
        "WEB_SERVERS": "server 127.0.0.1:9;",
        "WS_SERVERS": "server 127.0.0.1:9;",
    }
    config = tmp_path / "nginx.conf"
    config.write_text(render(template, values))
    command = [nginx, "-t", "-p", str(tmp_path), "-c", str(config), "-e", "stderr"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------- the image


def test_image_runs_as_a_non_root_user() -> None:
    """The last USER of the Dockerfile is neither root nor uid 0."""
    users = _dockerfile_instructions("USER")
    assert users, "the Dockerfile sets no USER: the containers would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_image_defaults_to_the_web_command_on_python_311() -> None:
    """One image, two commands: web/start unless compose says ws/start."""
    assert _dockerfile_instructions("CMD") == ['["web/start"]']
    assert _dockerfile_instructions("FROM") == ["python:3.11.14-slim"]


def test_image_installs_both_roles_requirements() -> None:
    """Gunicorn's and Daphne's requirements are both in the one image, from the hashed lock file."""
    dockerfile = DOCKERFILE.read_text()
    assert "pip install --require-hashes -r requirements/image.txt" in dockerfile
    locked = (DOCKERFILE.parent / "requirements" / "image.txt").read_text()
    assert "\ngunicorn==" in locked
    assert "\ndaphne==" in locked


def test_every_image_tag_is_an_exact_version(services: dict[str, dict[str, Any]]) -> None:
    """redis:7.0.15, not redis:7: a pull next month gets the same image (the app's own image is built)."""
    for name, service in services.items():
        image = service.get("image", "")
        if "build" in service or image == "ping-app":
            continue  # the app image, built from the Dockerfile
        # PostgreSQL numbers its releases major.minor (15.20); the others major.minor.patch.
        exact = r"postgres:\d+\.\d+" if image.startswith("postgres:") else r"[a-z0-9./-]+:\d+\.\d+\.\d+"
        assert re.fullmatch(exact + r"(-[a-z0-9]+)?", image), f"{name}: {image}"
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim", _dockerfile_instructions("FROM")[0])


def test_build_context_leaves_out_local_state_and_secrets() -> None:
    """The virtualenv, run directories, git history and .env never reach the image, nor deploy/
    (the local stack needs psutil, a development-only package)."""
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    assert {".venv", ".run", ".git", ".env", "deploy"} <= ignored


def test_image_user_and_group_share_one_named_id() -> None:
    """USER uid:gid names ids the image creates: the group with its own --gid first, then the user
    in it. (`useradd --user-group` gave the group the next free system gid, 999, so 10001:10001
    ran with a gid no group had.)"""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    dockerfile = "\n".join(lines).replace("\\\n", " ")
    uid, gid = _dockerfile_instructions("USER")[-1].split(":")
    groupadd = re.search(r"groupadd\b[^&]*--gid (\d+) (\w+)", dockerfile)
    useradd = re.search(r"useradd\b[^&]*--uid (\d+) --gid (\w+)\b", dockerfile)
    assert groupadd, "the Dockerfile must create the group with its own --gid"
    assert useradd, "the Dockerfile must create the user with --uid and --gid"
    assert (groupadd[1], groupadd[2]) == (gid, useradd[2])
    assert useradd[1] == uid
    assert "--user-group" not in dockerfile
    assert dockerfile.index("groupadd") < dockerfile.index("useradd")


def test_gunicorn_runs_without_a_control_socket() -> None:
    """The image's user has no home (/nonexistent), where Gunicorn puts its control socket by
    default: every start logged "Control server error: Permission denied". The setting is one
    this Gunicorn knows (an unknown name in a config file would be ignored)."""
    from gunicorn.config import KNOWN_SETTINGS

    config = runpy.run_path(str(REPO / "web" / "gunicorn.conf.py"))
    assert config["control_socket_disable"] is True
    assert "control_socket_disable" in {setting.name for setting in KNOWN_SETTINGS}
