"""Settings read from the environment: typed helpers that fail loudly, strict production."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from deploy.stack import REPO
from shared.env import env_bool, env_float, env_int, env_list, env_str


def settings_load(**env: str) -> subprocess.CompletedProcess:
    """Import shared.settings in a fresh interpreter with exactly this environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PING_", "SECRET_KEY", "DEBUG", "WS_", "LIVE_"))}
    return subprocess.run(
        [sys.executable, "-c", "import shared.settings as s; print(s.DEBUG, s.PRODUCTION)"],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
    )


def test_production_refuses_to_start_without_a_secret_key():
    """PING_ENV=production and no SECRET_KEY: ImproperlyConfigured, naming the fix."""
    done = settings_load(PING_ENV="production")
    assert done.returncode != 0
    assert "SECRET_KEY" in done.stderr


def test_production_refuses_a_short_or_django_insecure_key():
    """A placeholder key is as bad as none."""
    assert settings_load(PING_ENV="production", SECRET_KEY="short").returncode != 0
    assert settings_load(PING_ENV="production", SECRET_KEY="django-insecure-" + "x" * 60).returncode != 0


def test_production_starts_with_a_real_key_and_debug_off():
    """A long random key is accepted; DEBUG stays off unless asked for."""
    done = settings_load(PING_ENV="production", SECRET_KEY="k" * 64)
    assert (done.returncode, done.stdout.strip()) == (0, "False True"), done.stderr


def test_an_unknown_environment_name_is_refused():
    """A typo in PING_ENV must not silently mean development."""
    assert "PING_ENV" in settings_load(PING_ENV="prod").stderr


def test_a_rate_limit_setting_that_is_not_a_number_is_refused():
    """WS_RATE_PER_SECOND=fast fails at start, not at the first frame."""
    done = settings_load(WS_RATE_PER_SECOND="fast")
    assert done.returncode != 0
    assert "WS_RATE_PER_SECOND" in done.stderr


def test_a_ttl_shorter_than_two_heartbeats_is_refused():
    """An expiry that one late heartbeat could cross would drop live clients."""
    assert "LIVE_TTL_SECONDS" in settings_load(LIVE_HEARTBEAT_SECONDS="10", LIVE_TTL_SECONDS="15").stderr


def test_env_helpers_parse_and_reject(monkeypatch):
    """Booleans, integers, floats and lists parse; nonsense raises with the variable's name."""
    monkeypatch.setenv("B", "yes")
    monkeypatch.setenv("I", "12")
    monkeypatch.setenv("F", "0.5")
    monkeypatch.setenv("L", "a, b,,c")
    assert (env_bool("B", False), env_int("I", 0), env_float("F", 0.0), env_list("L", [])) == (
        True,
        12,
        0.5,
        ["a", "b", "c"],
    )
    monkeypatch.setenv("B", "maybe")
    with pytest.raises(ImproperlyConfigured, match="B"):
        env_bool("B", False)
    monkeypatch.setenv("I", "-3")
    with pytest.raises(ImproperlyConfigured, match="I must be >= 0"):
        env_int("I", 0)
    monkeypatch.setenv("F", "nan")
    with pytest.raises(ImproperlyConfigured):
        env_float("F", 0.0)


def test_a_secret_can_come_from_a_file(monkeypatch, tmp_path):
    """NAME_FILE wins over NAME, for container secrets."""
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    monkeypatch.setenv("SECRET_KEY", "from-env")
    monkeypatch.setenv("SECRET_KEY_FILE", str(secret))
    assert env_str("SECRET_KEY") == "from-file"


def test_the_frame_limit_must_stay_below_daphnes_transport_cap():
    """The consumer's too_large limit is useless above the cap where Daphne cuts frames off."""
    assert "WS_TRANSPORT_MAX_BYTES" in settings_load(WS_MAX_FRAME_BYTES="70000").stderr


def test_ws_start_passes_the_same_transport_cap_default_as_the_settings():
    """ws/start and shared/settings.py agree on WS_TRANSPORT_MAX_BYTES's default."""
    from django.conf import settings

    assert f'"${{WS_TRANSPORT_MAX_BYTES:-{settings.WS_TRANSPORT_MAX_BYTES}}}"' in (REPO / "ws" / "start").read_text()


def database_options(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "PING_"))}
    done = subprocess.run(
        [sys.executable, "-c", "import shared.settings as s; print(s.DATABASES['default'].get('OPTIONS', {}))"],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_postgres_gets_djangos_connection_pool_sized_from_the_environment():
    """On PostgreSQL: {"pool": {...}} (Django 5.1+); DATABASE_POOL=0 turns it off; SQLite never has it."""
    url = "postgres://u@db:5432/ping"
    assert "'pool': {'min_size': 1, 'max_size': 10, 'timeout': 10.0}" in database_options(DATABASE_URL=url)
    assert "'max_size': 4" in database_options(DATABASE_URL=url, DATABASE_POOL_MAX_SIZE="4")
    assert "pool" not in database_options(DATABASE_URL=url, DATABASE_POOL="0")
    assert "pool" not in database_options(DATABASE_URL="sqlite:////tmp/x.sqlite3")
