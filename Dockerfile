# syntax=docker/dockerfile:1
# The keyswitch image (docs/deploy.md): one image for every role.
#   docker build -t keyswitch .
#   docker run -p 127.0.0.1:8080:8080 -p 5060:5060/udp ... keyswitch up     (or: auc | softswitch | sbc | any CLI command)
# No Docker engine runs in CI: scripts/stage-image.mjs reads this file and runs
# the same steps into a staging directory, then starts the result and runs its
# HEALTHCHECK. Keep to the instructions it knows (it refuses others).
# Node 24, pinned to 24.18.1: from 24.19.0 Node's headers make node::ObjectWrap
# register cleanup hooks, and better-sqlite3 12 compiled against them aborts the
# process when the garbage collector frees a statement outside a V8 context
# (nodejs/node#65446; better-sqlite3 13 fixes it but needs Node >= 22).
# CI runs the suite on this same version (.ci/run).
ARG NODE_VERSION=24.18.1

FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs scripts/
COPY src src
COPY migrations migrations
RUN npm run build
# Production dependencies only; better-sqlite3 keeps the addon built above.
RUN npm prune --omit=dev --no-audit --no-fund
# The data directory, made here and copied below with --chown, so that the
# image holds it owned by the runtime user: a new named volume takes the
# owner of the image's directory, and keyswitch must write there.
RUN mkdir -p image/var/lib/keyswitch

FROM node:${NODE_VERSION}-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
ENV KEYSWITCH_DATA_DIR=/var/lib/keyswitch
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
COPY bin bin
COPY config config
COPY dictionaries dictionaries
COPY console console
COPY scripts/healthcheck.mjs scripts/
COPY --from=build --chown=node:node /app/image/var/lib/keyswitch/ /var/lib/keyswitch/
# The official Node images' unprivileged user (uid 1000); every port keyswitch uses is above 1024.
USER node
VOLUME /var/lib/keyswitch
# SBC: SIP UDP/TCP, TLS, TLS-PSK, MGCP, H.248 (terminals); AuC: provisioning API and console (keep it off the public side).
EXPOSE 5060/udp 5060/tcp 5061/tcp 5062/tcp 2727/udp 2944/udp 8080/tcp
# /healthz of whatever role runs here: the API's (auc, up), softswitch.health, sbc.health.
HEALTHCHECK --interval=15s --timeout=10s --start-period=30s --retries=3 CMD ["node", "scripts/healthcheck.mjs"]
ENTRYPOINT ["node", "bin/keyswitch.js"]
CMD ["up"]
