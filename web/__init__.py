"""The WSGI side, served by Gunicorn: every HTML page, the JSON API and the health check."""
