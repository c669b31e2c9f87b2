"""Error reporting to Sentry (sentry-sdk), off unless SENTRY_DSN is set.

What gets reported, once `start_error_reporting` has run (shared/settings.py calls it in every
process):
- a page's unhandled exception (sentry-sdk's Django integration);
- an exception that escapes a consumer: Channels 4 consumers are outside the Django
  integration's reach, so ws/asgi.py wraps the whole ASGI app (`report_asgi_errors`);
- every log record at ERROR or above, with its traceback (the logging integration): the
  consumers' `internal_error` safety net (`log.exception`), a periodic job's bug, a chat room
  whose database is down.
No personal data is sent (sentry-sdk's default: no cookies, user names or IP addresses), and no
performance traces.
"""

import sentry_sdk
from sentry_sdk.integrations.asgi import SentryAsgiMiddleware
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import LoggingIntegration


def start_error_reporting(dsn: str, environment: str) -> bool:
    """Report to `dsn` from now on; returns whether reporting is on (False for an empty DSN)."""
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), LoggingIntegration(event_level="ERROR")],
        # Only what is listed (and sentry-sdk's defaults): no Redis breadcrumb on every command.
        auto_enabling_integrations=False,
        traces_sample_rate=None,
    )
    return True


def report_asgi_errors(application):
    """The ASGI app, wrapped so that an exception escaping any consumer is reported (when on)."""
    if not sentry_sdk.get_client().is_active():
        return application  # off: not even the wrapper's per-connection cost
    return SentryAsgiMiddleware(application)
