#!/bin/bash
# The container's health check: exit 0 when Herald's /readyz answers 200 (the database
# answers and the LISTEN connection is up), else 1.
#
# The runtime image has no curl; bash's /dev/tcp speaks the few bytes of HTTP needed.
# Plain HTTP on 127.0.0.1:$HERALD_PORT, so with HERALD_TLS_CERT set in the container
# this check cannot work (terminate TLS at the load balancer, or replace the check).
set -u
port=${HERALD_PORT:-8080}

exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$port" >&3
# The status line, e.g. "HTTP/1.1 200 OK"; give up after 5 s.
IFS= read -r -t 5 status <&3 || exit 1
exec 3<&-
case $status in
    "HTTP/1."?" 200 "*) exit 0 ;;
    *) exit 1 ;;
esac
