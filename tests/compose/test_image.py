"""The app image itself: who it runs as, and what its processes log when they start."""

import re

from tests.compose.project import IMAGE, containers, podman

APP_SERVICES = ("migrate", "publish-static", "web", "ws")
# Lines no clean start may log: an error of any kind, a refused file, a Python traceback.
# (A word of its own: migration names such as add_error_messages are fine.)
BAD_LINE = re.compile(r"\berror\b|permission denied|traceback", re.IGNORECASE)


def test_image_user_and_group_are_10001_and_named():
    """`id` in the image: uid and gid 10001, both with a name (the gid used to have no group)."""
    assert podman("run", "--rm", IMAGE, "id").strip() == "uid=10001(ping) gid=10001(ping) groups=10001(ping)"


def test_running_containers_use_the_image_user():
    """Every app container runs as ping:ping, not as root and not with a nameless group."""
    for container in containers():
        if container.service in ("web", "ws"):
            assert podman("exec", container.name, "id", "-gn").strip() == "ping", container.name


def test_app_containers_start_with_a_clean_log():
    """No error, refused path or traceback in any app container's log (Gunicorn used to log
    "Control server error: Permission denied: '/nonexistent'" on every start)."""
    checked = 0
    for container in containers():
        if container.service in APP_SERVICES:
            bad = [line for line in container.logs().splitlines() if BAD_LINE.search(line)]
            assert not bad, f"{container.name}: {bad}"
            checked += 1
    assert checked == 5  # migrate, publish-static, web, ws x2
