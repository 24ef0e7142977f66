#!/usr/bin/env bash
# The test suite on another Node.js line than the machine's (CI runs it on the
# image's Node 24, docs/deploy.md "Node.js versions"):
#   scripts/ci-node.sh VERSION [arguments for npm test]
# Node comes from the npm registry's `node` package (an official binary in its
# node-linux-<arch> dependency, with the headers node-gyp needs in include/node:
# npm_config_nodedir points there, so better-sqlite3 builds with no download).
# The suite runs in a copy of the tree with its own node_modules, so the
# machine's stays built for its own Node. KEYSWITCH_CI_NODE_DIR: where (default
# a new temporary folder); its runtime/ stays for later steps.
set -euo pipefail
version=${1:?usage: scripts/ci-node.sh VERSION [npm test arguments]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
work=${KEYSWITCH_CI_NODE_DIR:-$(mktemp -d /tmp/keyswitch-node-XXXXXX)}
mkdir -p "$work/runtime" "$work/tree"
# readable by the staged image's unprivileged user too (scripts/stage-image.mjs runs it with this Node)
chmod 755 "$work"

npm install --prefix "$work/runtime" --no-audit --no-fund --loglevel=error "node@$version" >/dev/null
nodedir=$(echo "$work"/runtime/node_modules/node/node_modules/node-linux-*)
[ -x "$nodedir/bin/node" ] && [ -d "$nodedir/include/node" ] || { echo "ci-node: no binary and headers in $nodedir" >&2; exit 1; }
export PATH="$nodedir/bin:$PATH" npm_config_nodedir="$nodedir"
[ "$(node --version)" = "v$version" ] || { echo "ci-node: node on PATH is $(node --version), not v$version" >&2; exit 1; }

(cd "$root" && tar --exclude=./node_modules --exclude=./.git --exclude=./dist -cf - .) | tar -C "$work/tree" -xf -
cd "$work/tree"
echo "ci-node: npm ci on Node $(node --version) (better-sqlite3 built against $nodedir/include/node)"
npm ci --no-audit --no-fund --loglevel=error
npm test -- "$@"
