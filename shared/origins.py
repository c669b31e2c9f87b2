"""Which origins may open the site's sockets: exactly the origins its CSRF check trusts.

A WebSocket handshake carries the visitor's cookies whatever page opened it, so the `Origin`
header is the only thing that tells the site's own pages from a page of another origin (another
site, or another port or scheme of the same host). The rule is Django's CSRF origin check
(django/middleware/csrf.py, `CsrfViewMiddleware._origin_verified`), applied to a handshake:

- the request's own origin: the scheme Django would see (`https` when the proxy header in
  SECURE_PROXY_SSL_HEADER says so, else the scope's own scheme), and the `Host` header (or
  `X-Forwarded-Host` under USE_X_FORWARDED_HOST) if ALLOWED_HOSTS allows it, as
  `request.get_host()` does;
- or one of CSRF_TRUSTED_ORIGINS (`https://*.example.com` matches that domain's subdomains).

Origins are compared as RFC 6454 tuples (scheme, host, port): scheme and host in lower case,
IPv6 addresses in their canonical form, the default port (80 for http, 443 for https) filled
in. An `Origin` header that is not a serialized origin (`null`, missing, with a path, a query or a
fragment — even an empty "?" or "#" —, user info, or a port with leading zeros) matches nothing;
a trailing dot makes another host, as it does for a browser.
"""

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.http.request import is_same_domain, split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}
# A serialized origin as browsers send it (RFC 6454 §6.2, the HTML standard's "ASCII
# serialization of an origin"): scheme, "://", host, and a port only when not the default,
# written in decimal without leading zeros. Nothing else: no "?", "#", path or user info, not
# even empty ones, which URL parsers drop silently.
_SERIALIZED_ORIGIN = re.compile(
    r"[a-z][a-z0-9+.-]*://(\[[0-9a-f:.]+\]|[^\s/?#@:\[\]]+)(:[1-9][0-9]{0,4})?", re.IGNORECASE
)
# What Django's get_host() allows when DEBUG is on and ALLOWED_HOSTS is empty.
DEBUG_ALLOWED_HOSTS = (".localhost", "127.0.0.1", "[::1]")


@dataclass(frozen=True)
class Origin:
    """An origin as RFC 6454 compares it; `host` may start with "*." in a trusted pattern."""

    scheme: str
    host: str
    port: int

    def matches(self, other: "Origin") -> bool:
        """Whether `other` (a concrete origin) is this one, or under this pattern's wildcard."""
        if (self.scheme, self.port) != (other.scheme, other.port):
            return False
        if self.host.startswith("*."):
            # Django's is_same_domain: ".example.com" matches example.com and its subdomains.
            return is_same_domain(other.host, self.host[1:])
        return self.host == other.host


def parse_origin(text: str | None, pattern: bool = False) -> Origin | None:
    """`scheme://host[:port]` as an Origin, or None when `text` is not one.

    `pattern` allows what a CSRF_TRUSTED_ORIGINS entry may have and a browser's header never
    does: a `*.` wildcard host and a trailing slash.
    """
    if not text or text == "null":
        return None
    if pattern:
        text = text.strip().removesuffix("/")
    if not _SERIALIZED_ORIGIN.fullmatch(text):
        return None
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:  # a bad port, or brackets that do not hold an IPv6 address
        return None
    scheme = parts.scheme.lower()
    if (
        scheme not in DEFAULT_PORTS
        or parts.netloc.endswith(":")
        or parts.path
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        return None
    host = _canonical_host(parts.hostname or "", pattern)
    if host is None:
        return None
    return Origin(scheme, host, port if port is not None else DEFAULT_PORTS[scheme])


def request_origin(host_header: str | None, secure: bool, allowed_hosts: Iterable[str]) -> Origin | None:
    """The origin a request is for: its scheme and its `Host`, if that host is allowed."""
    if not host_header:
        return None
    domain, _ = split_domain_port(host_header)
    if not domain or not validate_host(domain, list(allowed_hosts)):
        return None
    return parse_origin(f"{'https' if secure else 'http'}://{host_header}")


def is_secure(headers: Mapping[str, str], scope_scheme: str | None, proxy_ssl_header: tuple[str, str] | None) -> bool:
    """Whether the client's connection was secure, as Django's `request.is_secure()` decides.

    `headers` has lower-case names; `proxy_ssl_header` is SECURE_PROXY_SSL_HEADER, e.g.
    ("HTTP_X_FORWARDED_PROTO", "https"): when that header is present, its first value decides.
    """
    if proxy_ssl_header:
        name, secure_value = proxy_ssl_header
        value = headers.get(name.removeprefix("HTTP_").replace("_", "-").lower())
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return scope_scheme in {"https", "wss"}


def origin_allowed(origin_header: str | None, own: Origin | None, trusted: Iterable[str]) -> bool:
    """Whether a handshake with this `Origin` header comes from one of the site's own pages.

    `own` is the request's own origin (`request_origin`), `trusted` is CSRF_TRUSTED_ORIGINS.
    """
    origin = parse_origin(origin_header)
    if origin is None:
        return False
    if own is not None and own == origin:
        return True
    return any(pattern.matches(origin) for pattern in filter(None, (parse_origin(t, pattern=True) for t in trusted)))


def allowed_hosts(configured: list[str], debug: bool) -> list[str]:
    """ALLOWED_HOSTS as Django's get_host() applies it."""
    return list(DEBUG_ALLOWED_HOSTS) if debug and not configured else configured


def _canonical_host(host: str, pattern: bool) -> str | None:
    """Lower case; IPv6 addresses compressed; None for an empty or malformed host."""
    # A trailing dot is kept: "example.com." is another host to a browser, so another origin.
    host = host.lower()
    if not host or host.endswith(".."):
        return None
    if ":" in host:  # urlsplit took it from brackets: an IPv6 address
        try:
            return f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            return None
    if pattern and host.startswith("*."):
        return host if len(host) > 2 and "*" not in host[2:] else None
    return None if "*" in host else host
