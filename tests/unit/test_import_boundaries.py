"""Who may import whom: `web/` (Gunicorn) and `ws/` (Daphne) never import each other, `shared/`
(what both import) imports neither, and none of the three imports `deploy/` (the local stack and
deployment tooling, left out of the image) or `tests/`. Imports are read with `ast`, at any depth
(a function's lazy import counts), absolute and relative alike.

Django settings still name modules in strings ("web.urls", "ws.asgi.application"); those are
configuration, not imports, and are not checked here."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OFF_LIMITS = {
    "web": {"ws", "deploy", "tests"},
    "ws": {"web", "deploy", "tests"},
    "shared": {"web", "ws", "deploy", "tests"},
}


def imported_modules(source: str, package: str) -> set[str]:
    """Dotted names of every module `source` imports, relative imports resolved against
    `package` (the dotted package the source lives in: "web.views" for web/views/pages.py)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(_absolute(node, package))
    return names


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def forbidden_imports(source: str, package: str) -> list[str]:
    """The imports of `source` that its top-level package may not make, sorted."""
    off_limits = OFF_LIMITS[package.split(".")[0]]
    return sorted(name for name in imported_modules(source, package) if name.split(".")[0] in off_limits)


def package_of(path: Path) -> str:
    return ".".join(path.relative_to(REPO).parent.parts)


@pytest.mark.parametrize("top", sorted(OFF_LIMITS))
def test_each_package_imports_only_what_it_may(top: str) -> None:
    files = sorted((REPO / top).rglob("*.py"))
    assert files, f"no Python files under {top}/"
    found = {
        str(path.relative_to(REPO)): bad
        for path in files
        if (bad := forbidden_imports(path.read_text(), package_of(path)))
    }
    assert found == {}, f"{top}/ may not import {sorted(OFF_LIMITS[top])}"


# ---------------------------------------------------------------- the checker itself


@pytest.mark.parametrize(
    ("source", "package", "expected"),
    [
        ("import ws.runtime", "web", ["ws.runtime"]),
        ("from ws import runtime", "web.views", ["ws"]),
        ("from web.views import pages", "ws.consumers", ["web.views"]),
        ("import shared.protocol, web", "shared", ["web"]),
        ("from deploy.stack import Stack", "shared", ["deploy.stack"]),
        ("from tests.helpers import connect", "ws", ["tests.helpers"]),
        ("def later():\n    from ws.asgi import application\n", "shared", ["ws.asgi"]),
        ("from shared.protocol import parse\nimport websockets\nimport webob", "web", []),
        ("from . import pages\nfrom ..shared import x", "web.views", []),
    ],
    ids=[
        "import",
        "from_import",
        "ws_from_web",
        "one_of_several",
        "deploy",
        "tests",
        "lazy_import",
        "similar_names_pass",
        "own_relatives_pass",
    ],
)
def test_the_checker_finds_what_is_off_limits(source: str, package: str, expected: list[str]) -> None:
    assert forbidden_imports(source, package) == expected


def test_relative_imports_resolve_against_the_package() -> None:
    source = "from . import pages\nfrom .. import urls\nfrom ..views.pages import home\nfrom .base import View"
    assert imported_modules(source, "web.views") == {"web.views", "web", "web.views.pages", "web.views.base"}
