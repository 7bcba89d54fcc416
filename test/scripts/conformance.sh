#!/usr/bin/env bash
# Runs the official OCI distribution-spec conformance suites against Berth in
# several configurations, each on a fresh Berth process, and prints one
# "CONFIG SUITE: N passed, M failed, K skipped" line per run.
#
#   npm run conformance                       # every configuration
#   npm run conformance -- default dev        # some of them
#
# Configurations:
#   default      SQLite + filesystem, no auth: the ginkgo suite and the redesigned suite (v1.1 profile)
#   token        token auth with Berth's database users, the suites log in as admin (OCI_USERNAME/OCI_PASSWORD)
#   postgres-s3  PostgreSQL (test/scripts/pg-throwaway.sh) + S3 (s3rver, from dist/test/helpers)
#   nginx        behind nginx, blobs served by nginx with http.accelredirect
#   dev          the redesigned suite's profile for the spec's main branch: OCI_VERSION=dev,
#                OCI_DATA_SPARSE=true (manifests.sparse.namespaces: conformance),
#                OCI_API_BLOBS_MOUNT_ANONYMOUS=true, OCI_API_BLOBS_UPLOAD_CANCEL=true
#
# The suites are not part of this repository (CI cannot fetch or build them).
# BERTH_CONFORMANCE_DIR names the folder holding the two binaries:
#   conformance.test   the ginkgo suite (opencontainers/distribution-spec conformance/, go test -c)
#   conformance-head   the redesigned suite (distribution-spec main, conformance/, go build)
# BERTH_CONFORMANCE_OUT: where logs and reports go (default /tmp/berth-conformance).
# Needs a built Berth (npm run build), curl, python3; nginx for `nginx`,
# PostgreSQL's binaries for `postgres-s3`. Exit status: 0 when no run failed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${BERTH_CONFORMANCE_DIR:-}
OUT=${BERTH_CONFORMANCE_OUT:-/tmp/berth-conformance}
die() { echo "conformance: $*" >&2; exit 2; }
[ -n "$DIR" ] || die "set BERTH_CONFORMANCE_DIR to the folder holding conformance.test and conformance-head (built from opencontainers/distribution-spec; see docs/testing.md)"
for b in conformance.test conformance-head; do [ -x "$DIR/$b" ] || die "$DIR/$b is missing or not executable"; done
[ -f "$ROOT/dist/src/cli/main.js" ] || die "dist/ is missing: run npm run build first"
CONFIGS=("$@"); [ ${#CONFIGS[@]} -gt 0 ] || CONFIGS=(default token postgres-s3 nginx dev)
mkdir -p "$OUT"
ADMIN_PASSWORD=conformance-admin-password
PIDS=(); CLEANUP=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  PIDS=()
  for c in "${CLEANUP[@]}"; do eval "$c" >/dev/null 2>&1; done
  CLEANUP=()
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # URL: until /v2/ answers 200 or 401
  for _ in $(seq 1 150); do
    case $(curl -s -o /dev/null -w '%{http_code}' "$1/v2/") in 200|401) return 0 ;; esac
    sleep 0.2
  done
  return 1
}

# start_berth LOG ENV...: starts Berth on a free port with a fresh data folder; sets PORT and DATA.
start_berth() {
  local log=$1; shift
  PORT=$(free_port); DATA=$(mktemp -d /tmp/berth-conformance-data.XXXXXX)
  CLEANUP+=("rm -rf $DATA")
  env "$@" node "$ROOT/dist/src/cli/main.js" serve -a "127.0.0.1:$PORT" -d "$DATA" >"$log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$PORT" || { echo "conformance: Berth did not start; see $log" >&2; return 1; }
}

# ginkgo NAME URL REPO: the ginkgo suite, all four workflows.
ginkgo() {
  local name=$1 url=$2 repo=$3 rd="$OUT/$1-ginkgo"
  rm -rf "$rd"; mkdir -p "$rd"
  (cd "$rd" && OCI_ROOT_URL=$url OCI_NAMESPACE=$repo OCI_CROSSMOUNT_NAMESPACE=$repo-crossmount \
    OCI_TEST_PULL=1 OCI_TEST_PUSH=1 OCI_TEST_CONTENT_DISCOVERY=1 OCI_TEST_CONTENT_MANAGEMENT=1 \
    OCI_HIDE_SKIPPED_WORKFLOWS=0 OCI_DEBUG=0 OCI_REPORT_DIR=$rd \
    "$DIR/conformance.test" -test.v -ginkgo.no-color -ginkgo.timeout=30m >"$rd/run.log" 2>&1)
  local s; s=$(grep -E '[0-9]+ Passed \| [0-9]+ Failed \| [0-9]+ Pending \| [0-9]+ Skipped' "$rd/run.log" | tail -1)
  [ -n "$s" ] || { report "$name" ginkgo "no summary (see $rd/run.log)" 1; return; }
  local p f k
  p=$(sed -E 's/.* ([0-9]+) Passed.*/\1/' <<<"$s"); f=$(sed -E 's/.* ([0-9]+) Failed.*/\1/' <<<"$s"); k=$(sed -E 's/.* ([0-9]+) Skipped.*/\1/' <<<"$s")
  report "$name" ginkgo "$p passed, $f failed, $k skipped" "$f"
}

# head NAME HOSTPORT REPO [ENV...]: the redesigned suite (OCI_VERSION and friends from ENV).
head_suite() {
  local name=$1 hostport=$2 repo=$3; shift 3
  local rd="$OUT/$name-head"
  rm -rf "$rd"; mkdir -p "$rd"
  (cd "$rd" && env OCI_REGISTRY="$hostport" OCI_TLS=disabled OCI_REPO1="$repo" OCI_REPO2="$repo-crossmount" OCI_RESULTS_DIR="$rd" "$@" \
    "$DIR/conformance-head" >"$rd/run.log" 2>&1)
  cnt() { grep -E "^  $1\.+: +[0-9]+$" "$rd/run.log" | tail -1 | awk '{print $NF}'; }
  local p f e s d
  p=$(cnt Pass); f=$(cnt FAIL); e=$(cnt Error); s=$(cnt Skip); d=$(cnt Disabled)
  [ -n "$p" ] && [ -n "$f" ] || { report "$name" head "no summary (see $rd/run.log)" 1; return; }
  f=$((f + ${e:-0}))
  report "$name" head "$p passed, $f failed, $(( ${s:-0} + ${d:-0} )) skipped" "$f"
  # Name every skipped and failed test (the README lists the skips).
  [ -f "$rd/junit.xml" ] && python3 - "$rd/junit.xml" <<'EOF' | sed "s/^/    /"
import sys, xml.etree.ElementTree as ET
for tc in ET.parse(sys.argv[1]).getroot().iter('testcase'):
    st = tc.get('status')
    if st in ('skipped', 'disabled', 'failure', 'error'):
        out = tc.find('system-out')
        why = ' | '.join(l.strip() for l in ((out.text or '') if out is not None else '').splitlines() if l.strip())[:200]
        print('%s: %s: %s' % (st, tc.get('name').replace('OCI Conformance Test/', '', 1), why))
EOF
}

FAILED=0
report() { # CONFIG SUITE RESULT FAILCOUNT
  echo "$1 $2: $3" | tee -a "$OUT/summary.txt"
  [ "${4:-0}" = 0 ] || FAILED=1
}

run_default() {
  start_berth "$OUT/default-berth.log" || return 1
  ginkgo default "http://127.0.0.1:$PORT" conformance/ginkgo
  head_suite default "127.0.0.1:$PORT" conformance/head
}

run_token() {
  start_berth "$OUT/token-berth.log" REGISTRY_AUTH=token BERTH_ADMIN_PASSWORD=$ADMIN_PASSWORD || return 1
  OCI_USERNAME=admin OCI_PASSWORD=$ADMIN_PASSWORD ginkgo token "http://127.0.0.1:$PORT" conformance/ginkgo
  head_suite token "127.0.0.1:$PORT" conformance/head OCI_USERNAME=admin OCI_PASSWORD=$ADMIN_PASSWORD
}

run_postgres_s3() {
  local pg; pg=$("$ROOT/test/scripts/pg-throwaway.sh" start) || { report postgres-s3 - "PostgreSQL did not start" 1; return; }
  eval "$pg"
  CLEANUP+=("BERTH_PG_DIR=$BERTH_PG_DIR $ROOT/test/scripts/pg-throwaway.sh stop")
  local s3port s3dir; s3port=$(free_port); s3dir=$(mktemp -d /tmp/berth-conformance-s3.XXXXXX)
  CLEANUP+=("rm -rf $s3dir")
  node "$ROOT/dist/test/helpers/s3rver-main.js" "$s3dir" "$s3port" conformance >"$OUT/s3rver.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$s3port/" && break; sleep 0.1; done
  start_berth "$OUT/postgres-s3-berth.log" BERTH_DATABASE_URL="$BERTH_TEST_POSTGRES_URL" \
    REGISTRY_STORAGE_S3_BUCKET=conformance REGISTRY_STORAGE_S3_REGION=us-east-1 REGISTRY_STORAGE_S3_REGIONENDPOINT="http://127.0.0.1:$s3port" \
    REGISTRY_STORAGE_S3_ACCESSKEY=S3RVER REGISTRY_STORAGE_S3_SECRETKEY=S3RVER REGISTRY_STORAGE_S3_FORCEPATHSTYLE=true REGISTRY_STORAGE_REDIRECT_DISABLE=true || return 1
  ginkgo postgres-s3 "http://127.0.0.1:$PORT" conformance/ginkgo
  head_suite postgres-s3 "127.0.0.1:$PORT" conformance/head
}

run_nginx() {
  command -v nginx >/dev/null || { report nginx - "nginx is not installed" 1; return; }
  start_berth "$OUT/nginx-berth.log" REGISTRY_HTTP_ACCELREDIRECT=/_berth_blobs/ || return 1
  local front work; front=$(free_port); work=$(mktemp -d /tmp/berth-conformance-nginx.XXXXXX)
  CLEANUP+=("rm -rf $work")
  cat >"$work/nginx.conf" <<EOF
worker_processes 1;
$( [ "$(id -u)" = 0 ] && echo 'user root;' )
pid $work/nginx.pid;
error_log $work/error.log;
events {}
http {
  access_log off;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  sendfile on;
  server {
    listen 127.0.0.1:$front;
    client_max_body_size 0;
    location / {
      proxy_pass http://127.0.0.1:$PORT;
      proxy_set_header Host \$http_host;
      proxy_request_buffering off;
      proxy_http_version 1.1;
    }
    location /_berth_blobs/ {
      internal;
      alias $DATA/;
      types {}
      default_type application/octet-stream;
      add_header Docker-Content-Digest \$upstream_http_docker_content_digest always;
    }
  }
}
EOF
  nginx -c "$work/nginx.conf" -g 'daemon off;' >"$OUT/nginx.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$front" || { report nginx - "nginx did not start (see $work/error.log)" 1; return; }
  ginkgo nginx "http://127.0.0.1:$front" conformance/ginkgo
  head_suite nginx "127.0.0.1:$front" conformance/head
}

run_dev() {
  start_berth "$OUT/dev-berth.log" REGISTRY_MANIFESTS_SPARSE_NAMESPACES=conformance || return 1
  head_suite dev "127.0.0.1:$PORT" conformance/head OCI_VERSION=dev OCI_DATA_SPARSE=true OCI_API_BLOBS_MOUNT_ANONYMOUS=true OCI_API_BLOBS_UPLOAD_CANCEL=true
}

: >"$OUT/summary.txt"
for c in "${CONFIGS[@]}"; do
  case "$c" in
    default) run_default ;;
    token) run_token ;;
    postgres-s3) run_postgres_s3 ;;
    nginx) run_nginx ;;
    dev) run_dev ;;
    *) die "unknown configuration $c (default, token, postgres-s3, nginx, dev)" ;;
  esac || FAILED=1
  cleanup
done
echo "== summary ($OUT/summary.txt)"; cat "$OUT/summary.txt"
exit $FAILED
