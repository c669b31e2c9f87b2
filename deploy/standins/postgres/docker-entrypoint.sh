#!/bin/bash
# The parts of the official postgres image's entrypoint that compose relies on:
# - started as root: own PGDATA, then run again as `postgres`;
# - PGDATA without a cluster: initdb with POSTGRES_USER (default postgres) as superuser and
#   POSTGRES_PASSWORD (required), password (scram-sha-256) logins from any address, then a
#   temporary server on the unix socket only creates POSTGRES_DB (default: the user's name)
#   and runs /docker-entrypoint-initdb.d/*.sql and *.sh; it stops before the real server starts,
#   so a TCP pg_isready does not report ready during initialisation;
# - the real server listens on every address.
set -o errexit -o nounset -o pipefail
if [ "${1:0:1}" = - ]; then set -- postgres "$@"; fi
if [ "$1" != postgres ]; then exec "$@"; fi

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set to initialise the database}"
    user="${POSTGRES_USER:-postgres}"
    db="${POSTGRES_DB:-$user}"
    initdb --username="$user" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    pg_ctl --pgdata="$PGDATA" --wait --silent -o "-c listen_addresses=''" start
    if [ "$db" != postgres ]; then
        psql --set=ON_ERROR_STOP=1 --quiet --username="$user" --dbname=postgres \
            --command="CREATE DATABASE \"$db\""
    fi
    for script in /docker-entrypoint-initdb.d/*; do
        case "$script" in
            *.sql) psql --set=ON_ERROR_STOP=1 --quiet --username="$user" --dbname="$db" --file="$script" ;;
            *.sh) . "$script" ;;
        esac
    done
    pg_ctl --pgdata="$PGDATA" --wait --silent --mode=fast stop
    echo "PostgreSQL init process complete; ready for start up."
fi
exec postgres -c listen_addresses='*' "${@:2}"
