#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: a temporary folder, trust
# authentication, 127.0.0.1 only, a free port, no durability (fsync off).
#
#   eval "$(test/scripts/pg-throwaway.sh start)"   # exports BERTH_TEST_POSTGRES_URL and BERTH_PG_DIR
#   npm test
#   test/scripts/pg-throwaway.sh stop              # stops it and deletes $BERTH_PG_DIR
#
# `start` prints only the export lines on stdout; progress goes to stderr.
# As root it runs the server as the `postgres` user (initdb refuses root);
# otherwise as the current user. Needs Debian's `postgresql` package (or
# PG_BIN pointing at a folder with initdb and pg_ctl).
# BERTH_PG_PORTS=FIRST-LAST chooses the port range tried (default 17100-17199).
set -euo pipefail

die() { echo "pg-throwaway: $*" >&2; exit 1; }

pg_bin() {
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$d" ]; then echo "$d"; return; fi
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return; }
  die "initdb not found: install PostgreSQL (apt-get install postgresql) or set PG_BIN"
}

# Runs a command as the cluster's owner.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
  local bin dir range first last port
  bin=$(pg_bin)
  dir=$(mktemp -d "${TMPDIR:-/tmp}/berth-pg.XXXXXX")
  chmod 700 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  range=${BERTH_PG_PORTS:-17100-17199}
  first=${range%-*}
  last=${range#*-}
  for ((port = first; port <= last; port++)); do
    port_free "$port" || continue
    if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
      start >&2; then
      echo "pg-throwaway: PostgreSQL on 127.0.0.1:$port, data in $dir" >&2
      echo "export BERTH_PG_DIR=$(printf '%q' "$dir")"
      echo "export BERTH_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/postgres"
      return 0
    fi
    tail -n 5 "$dir/server.log" >&2 || true
  done
  rm -rf "$dir"
  die "no free port in $range for PostgreSQL"
}

stop() {
  local dir=${1:-${BERTH_PG_DIR:-}}
  [ -n "$dir" ] || die "usage: $0 stop DIR (or set BERTH_PG_DIR)"
  [ -f "$dir/data/PG_VERSION" ] || die "$dir is not a throwaway cluster"
  as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -m immediate -w stop >&2 || true
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  *) die "usage: $0 start | stop [DIR]" ;;
esac
