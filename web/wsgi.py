"""Gunicorn's entry point (web/start): the Django app, and /metrics beside it."""

import os

from django.core.wsgi import get_wsgi_application
from prometheus_client import make_wsgi_app

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shared.settings")
django_application = get_wsgi_application()

from shared import metrics  # noqa: E402 - after Django is set up, like every app import

_exposition = make_wsgi_app(metrics.registry())


def application(environ, start_response):
    """/metrics is answered before Django: a scraper's Host need not be in ALLOWED_HOSTS, and a
    scrape makes no session or request metrics of its own. nginx lets only private addresses
    reach it (nginx/nginx.conf.template); in multiprocess mode it covers every process of the
    stack, Daphne workers included."""
    if environ.get("PATH_INFO") == "/metrics":
        metrics.forget_dead_processes()
        return _exposition(environ, start_response)
    return django_application(environ, start_response)
