"""The handshake's origin check, in front of every endpoint (the rule: shared/origins.py)."""

from channels.security.websocket import WebsocketDenier
from django.conf import settings

from shared.origins import allowed_hosts, is_secure, origin_allowed, request_origin


class SameOriginMiddleware:
    """Passes a handshake on only when its `Origin` is one of the site's own origins, the ones
    Django's CSRF check trusts; any other is refused before the socket opens (Daphne answers 403)."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "websocket" and not handshake_allowed(scope):
            # Channels' denier closes before accepting, which the server answers with 403.
            await WebsocketDenier()(scope, receive, send)
            return
        await self.application(scope, receive, send)


def handshake_allowed(scope: dict) -> bool:
    pairs = [(name.decode("latin1").lower(), value.decode("latin1")) for name, value in scope.get("headers", ())]
    headers = dict(pairs)
    if any(sum(name == once for name, _ in pairs) > 1 for once in ("origin", "host")):
        return False  # two answers to "which page is this": neither can be trusted
    host = headers.get("x-forwarded-host") if settings.USE_X_FORWARDED_HOST else None
    own = request_origin(
        host or headers.get("host"),
        is_secure(headers, scope.get("scheme"), settings.SECURE_PROXY_SSL_HEADER),
        allowed_hosts(settings.ALLOWED_HOSTS, settings.DEBUG),
    )
    return origin_allowed(headers.get("origin"), own, settings.CSRF_TRUSTED_ORIGINS)
