"""How the local stack fills nginx's brotli placeholders (deploy/stack), and the settings'
static storage (web/storage.py)."""

from pathlib import Path

from deploy.stack import brotli_static_values
from web.storage import HashedCompressedStorage


def test_without_the_brotli_module_both_placeholders_are_empty(tmp_path: Path):
    assert brotli_static_values(tmp_path / "missing.so") == {"NGINX_LOAD_MODULES": "", "NGINX_BROTLI_STATIC": ""}


def test_with_the_brotli_module_nginx_loads_it_and_sends_br_files(tmp_path: Path):
    module = tmp_path / "ngx_http_brotli_static_module.so"
    module.touch()
    assert brotli_static_values(module) == {
        "NGINX_LOAD_MODULES": f"load_module {module};",
        "NGINX_BROTLI_STATIC": "brotli_static on;",
    }


def test_the_settings_hash_and_compress_static_files_and_rewrite_module_imports():
    from django.conf import settings

    from shared import settings as defaults

    assert defaults.STORAGES["staticfiles"]["BACKEND"] == "web.storage.HashedCompressedStorage"
    assert HashedCompressedStorage.support_js_module_import_aggregation
    # The tests themselves render with the plain storage (tests/conftest.py).
    assert settings.STORAGES["staticfiles"]["BACKEND"].endswith("StaticFilesStorage")
