"""The handshake origin rule (shared/origins.py): the site's own origins and nothing else."""

import pytest

from shared.origins import Origin, allowed_hosts, is_secure, origin_allowed, parse_origin, request_origin

HOSTS = ["127.0.0.1", "localhost", "[::1]", "ping.example.com"]
PROXY = ("HTTP_X_FORWARDED_PROTO", "https")


def allowed(origin: str | None, host: str | None, secure: bool = False, trusted: tuple[str, ...] = ()) -> bool:
    return origin_allowed(origin, request_origin(host, secure, HOSTS), trusted)


@pytest.mark.parametrize(
    ("origin", "host", "secure", "expected"),
    [
        # the page's own origin
        ("http://127.0.0.1:8000", "127.0.0.1:8000", False, True),
        ("https://ping.example.com", "ping.example.com", True, True),
        # another port of the same host: refused
        ("http://127.0.0.1:8001", "127.0.0.1:8000", False, False),
        ("http://127.0.0.1", "127.0.0.1:8000", False, False),
        # another scheme: refused (both ways)
        ("https://127.0.0.1:8000", "127.0.0.1:8000", False, False),
        ("http://ping.example.com", "ping.example.com", True, False),
        # another host, a subdomain, a lookalike: refused
        ("http://evil.example", "127.0.0.1:8000", False, False),
        ("https://a.ping.example.com", "ping.example.com", True, False),
        ("https://ping.example.com.evil.example", "ping.example.com", True, False),
        # default ports are the same origin as no port
        ("http://127.0.0.1:80", "127.0.0.1", False, True),
        ("http://127.0.0.1", "127.0.0.1:80", False, True),
        ("https://ping.example.com:443", "ping.example.com", True, True),
        ("https://ping.example.com", "ping.example.com:443", True, True),
        ("http://ping.example.com", "ping.example.com:443", False, False),
        # case of scheme and host does not matter
        ("HTTP://LocalHost:8000", "localhost:8000", False, True),
        ("http://localhost:8000", "LOCALHOST:8000", False, True),
        # IPv6 hosts, in brackets; the same address however it is written
        ("http://[::1]:8000", "[::1]:8000", False, True),
        ("http://[0:0:0:0:0:0:0:1]:8000", "[::1]:8000", False, True),
        ("http://[::1]:8001", "[::1]:8000", False, False),
        ("http://[::2]:8000", "[::1]:8000", False, False),
        # not a serialized origin: refused
        (None, "127.0.0.1:8000", False, False),
        ("", "127.0.0.1:8000", False, False),
        ("null", "127.0.0.1:8000", False, False),
        ("http://127.0.0.1:8000/", "127.0.0.1:8000", False, False),
        ("http://127.0.0.1:8000/page", "127.0.0.1:8000", False, False),
        ("http://127.0.0.1:8000?x", "127.0.0.1:8000", False, False),
        # spellings no browser sends, which URL parsers read as the same origin
        ("http://127.0.0.1:8000?", "127.0.0.1:8000", False, False),
        ("http://127.0.0.1:8000#", "127.0.0.1:8000", False, False),
        ("http://127.0.0.1:08000", "127.0.0.1:8000", False, False),
        ("http://127.0.0.1:0008000", "127.0.0.1:8000", False, False),
        ("http://127.0.0.1.:8000", "127.0.0.1:8000", False, False),
        ("http://127.0.0.1:8000 ", "127.0.0.1:8000", False, False),
        ("http://user@127.0.0.1:8000", "127.0.0.1:8000", False, False),
        ("http://127.0.0.1:99999", "127.0.0.1:99999", False, False),
        ("http://127.0.0.1:", "127.0.0.1", False, False),
        ("ws://127.0.0.1:8000", "127.0.0.1:8000", False, False),
        ("file://", "127.0.0.1:8000", False, False),
        ("127.0.0.1:8000", "127.0.0.1:8000", False, False),
        # a Host the site does not serve (DNS rebinding) makes no own origin
        ("http://attacker.example:8000", "attacker.example:8000", False, False),
        ("http://127.0.0.1:8000", None, False, False),
        ("http://127.0.0.1:8000", "", False, False),
    ],
)
def test_only_the_requests_own_origin_is_allowed(origin, host, secure, expected):
    assert allowed(origin, host, secure) is expected


@pytest.mark.parametrize(
    ("origin", "trusted", "expected"),
    [
        ("https://ping.example.com:8443", ("https://ping.example.com:8443",), True),
        # a trailing slash in the setting is forgiven, and default ports are filled in
        ("https://ping.example.com:8443", ("https://ping.example.com:8443/",), True),
        ("https://ping.example.com", ("https://ping.example.com:443",), True),
        # scheme and port must match the entry
        ("http://ping.example.com:8443", ("https://ping.example.com:8443",), False),
        ("https://ping.example.com:8444", ("https://ping.example.com:8443",), False),
        ("https://ping.example.com", ("https://ping.example.com:8443",), False),
        # wildcards as Django's CSRF check reads them: the domain and its subdomains, one port
        ("https://a.example.com", ("https://*.example.com",), True),
        ("https://a.b.example.com", ("https://*.example.com",), True),
        ("https://example.com", ("https://*.example.com",), True),
        ("https://a.example.com:8443", ("https://*.example.com",), False),
        ("https://notexample.com", ("https://*.example.com",), False),
        ("http://a.example.com", ("https://*.example.com",), False),
        # malformed entries match nothing
        ("https://ping.example.com", ("ping.example.com", "https://", "https://*"), False),
        ("null", ("null",), False),
    ],
)
def test_csrf_trusted_origins_are_allowed_too(origin, trusted, expected):
    assert allowed(origin, "127.0.0.1:8000", trusted=trusted) is expected


@pytest.mark.parametrize(
    ("headers", "scope_scheme", "expected"),
    [
        ({}, None, False),
        ({}, "ws", False),
        ({}, "wss", True),
        ({"x-forwarded-proto": "https"}, "ws", True),
        ({"x-forwarded-proto": "http"}, "wss", False),  # the proxy's word wins, as in Django
        ({"x-forwarded-proto": "https, http"}, None, True),  # its first value
        ({"x-forwarded-proto": "HTTPS"}, None, False),  # compared exactly, as in Django
    ],
)
def test_the_scheme_is_the_one_djangos_is_secure_sees(headers, scope_scheme, expected):
    assert is_secure(headers, scope_scheme, PROXY) is expected


def test_without_a_proxy_header_setting_only_the_scope_counts():
    assert is_secure({"x-forwarded-proto": "https"}, "ws", None) is False


def test_parsed_origins_are_normalized():
    assert parse_origin("HTTPS://Ping.Example.COM") == Origin("https", "ping.example.com", 443)
    # a browser keeps a trailing dot in an origin: another host, as for its same-origin policy
    assert parse_origin("https://ping.example.com.") == Origin("https", "ping.example.com.", 443)
    assert parse_origin("http://[::FFFF:127.0.0.1]:81") == Origin("http", "[::ffff:7f00:1]", 81)
    assert parse_origin("https://*.example.com") is None  # wildcards only in the setting
    assert parse_origin("https://*.example.com", pattern=True) == Origin("https", "*.example.com", 443)


def test_debug_with_no_allowed_hosts_serves_localhost_as_django_does():
    assert allowed_hosts([], debug=True) == [".localhost", "127.0.0.1", "[::1]"]
    assert allowed_hosts([], debug=False) == []
    assert allowed_hosts(["a.example"], debug=True) == ["a.example"]
