"""Static files through the real nginx: hashed names in the pages (and in the modules' imports),
precompressed gzip and brotli copies, a year's cache for hashed names only, and /favicon.ico."""

import re
import urllib.request

import pytest

from deploy.stack import BROTLI_STATIC_MODULE

pytestmark = pytest.mark.stack

HASHED = r"\.[0-9a-f]{12}\."
YEAR = "max-age=31536000"


def get(url: str, encoding: str | None = None) -> tuple[int, dict[str, str], bytes]:
    headers = {"Accept-Encoding": encoding} if encoding else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def static_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


def test_pages_name_hashed_static_files(stack):
    """Every script, stylesheet and icon on the pages has a content hash in its name."""
    for path in ("/", "/private/", "/public/", "/chat/"):
        urls = static_urls(get(stack.url + path)[2].decode())
        assert urls, path
        assert all(re.search(HASHED, url) for url in urls), urls


def test_modules_import_hashed_names(stack):
    """private.js's imports (uPlot and its own modules) are rewritten to hashed names too, and
    so are the imports of those modules (page.js imports socket.js)."""
    html = get(stack.url + "/private/")[2].decode()
    module = next(url for url in static_urls(html) if "/js/private." in url)
    source = get(stack.url + module)[2].decode()
    imports = re.findall(r'from\s*"([^"]+)"', source)
    assert any("uPlot.esm.min." in name for name in imports), imports
    assert all(re.search(HASHED, name) for name in imports), imports
    page = next(name for name in imports if name.startswith("./page."))
    status, _, page_source = get(stack.url + "/static/js/" + page.removeprefix("./"))
    assert status == 200
    nested = re.findall(r'from\s*"([^"]+)"', page_source.decode())
    assert any(name.startswith("./socket.") for name in nested), nested
    assert all(re.search(HASHED, name) for name in nested), nested


def uplot_url(stack) -> str:
    html = get(stack.url + "/private/")[2].decode()
    module = next(url for url in static_urls(html) if "/js/private." in url)
    source = get(stack.url + module)[2].decode()
    name = re.search(r'"(\.\./vendor/uplot/uPlot[^"]+)"', source).group(1)
    return stack.url + "/static/" + name.removeprefix("../")


@pytest.mark.parametrize("encoding", ["gzip", "br", None])
def test_hashed_files_are_precompressed_and_cached_for_a_year(stack, encoding):
    """uPlot, minified: gzip or brotli as asked (brotli where nginx has the module), a year's
    cache, Vary: Accept-Encoding, and the security headers nginx sets everywhere."""
    if encoding == "br" and not BROTLI_STATIC_MODULE.exists():
        pytest.skip("nginx's brotli_static module is not installed (libnginx-mod-http-brotli-static)")
    status, headers, body = get(uplot_url(stack), encoding)
    assert status == 200
    assert headers.get("Content-Encoding") == encoding
    assert YEAR in headers["Cache-Control"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    if encoding:
        assert headers.get("Vary") == "Accept-Encoding"
        assert len(body) < 25_000  # 145 KB unminified and uncompressed before
    else:
        assert len(body) < 60_000  # minified


def test_unhashed_copies_are_revalidated(stack):
    """The plain name (kept for anything that links it directly) is never cached without a check."""
    status, headers, _ = get(stack.url + "/static/css/app.css")
    assert status == 200
    assert headers["Cache-Control"] == "no-cache"


def test_favicon_ico_answers(stack):
    status, headers, body = get(stack.url + "/favicon.ico")
    assert status == 200
    assert headers["Content-Type"] in {"image/x-icon", "image/vnd.microsoft.icon"}
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert "max-age" in headers["Cache-Control"]


def test_while_gunicorn_is_down_nginx_answers_with_the_sites_own_page(stack):
    """A 502 from nginx itself is the site's page (styled, with navigation), not nginx's."""
    try:
        stack.ctl("stop", "web")
        status, headers, body = get(stack.url + "/chat/")
        assert status == 502
        assert headers["Content-Type"].startswith("text/html")
        page = body.decode()
        assert "Back in a moment" in page
        assert 'name="viewport"' in page
        assert "/static/css/app.css" in page
        assert headers["X-Content-Type-Options"] == "nosniff"
    finally:
        stack.ctl("start", "web")
        stack.wait_until_ready(30)
    assert get(stack.url + "/chat/")[0] == 200
