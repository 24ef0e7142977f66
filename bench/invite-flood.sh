#!/usr/bin/env bash
# npm run bench:invite-flood — INVITEs never ACKed, 2,000/s for 20 s from one source (127.0.0.3)
# against `keyswitch up` with its default intrusion detection, in a temp data dir on the
# default SIP port 5060 (API, licence and metrics ports moved aside). Prints the SBC's RSS
# every 5 s and what the IDS blocked. Needs sipp (Debian: sip-tester).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
d=$(mktemp -d /tmp/ks-invite-flood-XXXXXX)
trap 'kill "$up" 2>/dev/null; wait "$up" 2>/dev/null; rm -rf "$d"' EXIT
cd "$d"
export KEYSWITCH_API_PORT=28080 KEYSWITCH_LICENCE_PORT=28443 KEYSWITCH_METRICS_ADDRESS=127.0.0.1:29470 KEYSWITCH_LOG_LEVEL=warn
node "$root/bin/keyswitch.js" --init --data-dir ./data up > up.log 2>&1 &
up=$!
for _ in $(seq 1 60); do grep -q "keyswitch is up" up.log && break; sleep 0.5; done
sbc=$(pgrep -P "$up" -f "keyswitch up: sbc" | head -1)
[ -n "$sbc" ] || { echo "keyswitch up did not start:"; cat up.log; exit 1; }
rss() { awk '/VmRSS/{print $2}' "/proc/$sbc/status"; }
echo "SBC RSS before: $(rss) kB"
sipp -sf "$root/bench/sipp/invite-no-ack.xml" -i 127.0.0.3 -r 2000 -m 40000 -l 100000 -timeout 40 127.0.0.1:5060 -bg >/dev/null 2>&1 || true
for t in 5 10 15 20 25; do sleep 5; echo "t=${t} s: SBC RSS $(rss) kB"; done
pkill -f "sipp -sf $root/bench/sipp/invite-no-ack.xml" || true
sleep 5
echo "after: SBC RSS $(rss) kB"
node "$root/bin/keyswitch.js" --data-dir ./data ids blocks 2>/dev/null | head -5
