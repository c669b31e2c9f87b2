"""These tests check a running compose stack from outside; `make compose-test` starts it,
sets PING_COMPOSE_URL and runs them. Anywhere else they are skipped, with that reason."""

import os

import pytest

URL = os.environ.get("PING_COMPOSE_URL", "")


def pytest_collection_modifyitems(config, items):
    if URL:
        return
    skip = pytest.mark.skip(reason="needs the compose stack: run `make compose-test` (root)")
    for item in items:
        if "tests/compose/" in item.nodeid:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def base_url() -> str:
    """http://127.0.0.1:<PORT>, nginx's published port."""
    return URL.rstrip("/")
