# Berth's container image.
#
#   docker build -t berth .
#   docker run -d --name berth -p 5000:5000 -v berth-data:/var/lib/berth berth
#
# Two stages. "build" (node:22-bookworm, which has python3, make and g++)
# installs the dependencies, which compiles the better-sqlite3 addon, compiles
# the TypeScript and prunes node_modules to the production dependencies.
# "runtime" (node:22-bookworm-slim, no toolchain) gets only dist/src, the
# pruned node_modules and package.json, and runs as the unprivileged `node`
# user (uid 1000). Both base images are build arguments, for a mirror or a
# pinned digest:
#
#   docker build --build-arg NODE_IMAGE=mirror.example/node:22-bookworm \
#                --build-arg NODE_RUNTIME_IMAGE=mirror.example/node:22-bookworm-slim -t berth .
#
# Node 22 is an LTS release (supported until April 2027). CI runs the unit
# and in-process HTTP suites on Node 22 (test/scripts/get-node.sh) as well as
# on the CI machine's Node 20.
#
# The file uses nothing beyond the classic builder (no RUN --mount, no
# syntax directive), so it builds with BuildKit and with DOCKER_BUILDKIT=0.
#
# The container runs `berth serve`. Arguments replace `serve`, so
# `docker run --rm berth --version` and `docker run --rm berth config check`
# work too. Configure it with a config file (BERTH_CONFIG=/etc/berth/config.yml
# or `serve --config FILE`) and REGISTRY_* / BERTH_* variables; see README.md.

ARG NODE_IMAGE=node:22-bookworm
ARG NODE_RUNTIME_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
# Dependencies in a layer of their own, so that a change of the sources does
# not compile better-sqlite3 again. --ignore-scripts because the project's
# `prepare` script (tsc) needs the sources, which are not copied yet;
# `npm rebuild` then runs the dependencies' install scripts, which build the
# addon (from source when no prebuilt binary can be downloaded; JOBS=max lets
# node-gyp compile its files in parallel).
RUN npm ci --ignore-scripts && JOBS=max npm rebuild
COPY tsconfig.json ./
COPY deploy/docker/tsconfig.image.json ./deploy/docker/
COPY src ./src
# The image's tsconfig compiles src/ without its unit tests. Then: production
# dependencies only (without the empty scope folders prune leaves), and of
# better-sqlite3 only the compiled addon (its sources and object files are
# another 25 MB).
RUN npx tsc -p deploy/docker/tsconfig.image.json \
 && npm prune --omit=dev \
 && find node_modules -mindepth 1 -maxdepth 1 -type d -empty -delete \
 && cd node_modules/better-sqlite3 \
 && mv build/Release/better_sqlite3.node /tmp/ \
 && rm -rf build deps src \
 && mkdir -p build/Release \
 && mv /tmp/better_sqlite3.node build/Release/

FROM ${NODE_RUNTIME_IMAGE} AS runtime
ENV NODE_ENV=production \
    BERTH_DATA_DIR=/var/lib/berth
WORKDIR /opt/berth
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
RUN mkdir -p /var/lib/berth /etc/berth \
 && chown 1000:1000 /var/lib/berth \
 && chmod 0755 dist/src/cli/main.js \
 && ln -s /opt/berth/dist/src/cli/main.js /usr/local/bin/berth
# Numeric, so that Kubernetes' runAsNonRoot can check it (uid 1000 is `node`).
USER 1000:1000
VOLUME ["/var/lib/berth"]
EXPOSE 5000
# Berth drains in-flight requests on SIGTERM (http.draintimeout, 30 s by
# default): give `docker stop` a longer --time, e.g. 45.
STOPSIGNAL SIGTERM
# Plain HTTP on the default port. With another http.addr or with TLS, define
# the check where the container is run, or run with --no-healthcheck.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:5000/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["berth"]
CMD ["serve"]
