# Ping App: one image, two commands. `web/start` (Gunicorn, the pages) is the default;
# docker-compose.yml runs `ws/start` (Daphne, /ws/ only) from the same image, so both roles
# always ship the same code, settings and static files. docs/operations.md says how to run it.
# An exact tag, like every image in docker-compose.yml: a rebuild gets the same base.
FROM python:3.11.14-slim

# No .pyc files written beside read-only code; log lines reach `docker logs` as they happen;
# no pip cache or version check baked into a layer.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The requirements alone first: this slow layer is rebuilt only when a pin changes, not on
# every code edit. image.txt is the lock file of both roles (web.in + ws.in): every transitive
# dependency pinned with its hashes, so a build installs exactly the bytes that were locked.
COPY requirements/ requirements/
RUN pip install --require-hashes -r requirements/image.txt

# The whole repo (less .dockerignore), owned by root: the app user can read it, not rewrite it.
COPY . .

ENV PING_ENV=production \
    DJANGO_SETTINGS_MODULE=shared.settings \
    PYTHONUNBUFFERED=1 \
    STATIC_ROOT=/app/static

# Static files are collected once, at build time, so every container of this image carries the
# same files. PING_ENV=development for this step only: production settings refuse to load
# without SECRET_KEY, and a build must neither need the secret nor bake one into a layer.
RUN PING_ENV=development python -m django collectstatic --noinput --verbosity 0

# An unprivileged system user with no home and no shell, uid and gid 10001. The group comes
# first with its own gid: `useradd --user-group` would give it the next free system gid (999),
# leaving USER 10001:10001 with a gid no group has. /srv/static is the mount point where
# compose's `publish-static` one-shot copies /app/static into the shared `static` volume: a new
# volume takes the owner of its mount point, so the user can write there and nowhere in /app.
RUN groupadd --system --gid 10001 ping \
    && useradd --system --uid 10001 --gid ping --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin ping \
    && install --directory --owner ping --group ping /srv/static
# Numeric, so an orchestrator's "must not run as root" check (runAsNonRoot) can verify it.
USER 10001:10001

# Gunicorn (web/start, WEB_BIND) and Daphne (ws/start, WS_ENDPOINT). No HEALTHCHECK here: the
# two roles answer on different ports, so each compose service declares its own.
EXPOSE 8000 8001
CMD ["web/start"]
