#!/bin/sh
# As the official redis image: options alone mean `redis-server <options>`; redis-server drops
# root for the `redis` user. `--protected-mode no` comes first, so the command's own options
# still override it (the official image compiles that default in).
set -o errexit
case "$1" in -*|*.conf) set -- redis-server "$@" ;; esac
if [ "$1" = redis-server ]; then
    shift
    if [ "$(id -u)" = 0 ]; then
        exec setpriv --reuid=redis --regid=redis --init-groups redis-server --protected-mode no "$@"
    fi
    exec redis-server --protected-mode no "$@"
fi
exec "$@"
