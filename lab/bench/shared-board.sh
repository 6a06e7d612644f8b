#!/usr/bin/env bash
# What sharing a relay board between processes costs: the dispatch time of one LCUS frame
# on the T40P's power relay, alone, then while a second process switches the T46G's power
# relay on the same board as fast as it can. Both go through the board's lock for every
# frame (drivers/device_lock.rs); the second figure includes the turns waited for.
#
#   lab/bench/shared-board.sh                 (from the checkout; builds the release binaries)
#   BIN=/path/to/target/debug lab/bench/...   (use binaries already built)
#   COUNT=500 ...                             (frames timed per measurement; default 500)
set -euo pipefail

cd "$(dirname "$0")/../.."
COUNT=${COUNT:-500}

if [[ -z "${BIN:-}" ]]; then
    cargo build --release -p harness -p yealink-twin --quiet
    BIN="${CARGO_TARGET_DIR:-target}/release"
fi

WORK=$(mktemp -d /tmp/shared-board-bench.XXXXXX)
TWIN_PID=""
BUSY_PID=""
cleanup() {
    [[ -n "$BUSY_PID" ]] && kill "$BUSY_PID" 2>/dev/null || true
    [[ -n "$TWIN_PID" ]] && kill "$TWIN_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# The virtual lab, with its devices, leases and endpoints of its own.
sed -e "s|/tmp/yealink-virtual-lab|$WORK/dev|g" \
    -e "s|^\[lab\]$|[lab]\nlock_dir = \"$WORK/locks\"|" \
    -e 's|"\.\./firmware-fixtures"|"'"$PWD"'/firmware-fixtures"|' \
    -e 's|127.0.0.1:[0-9]*"|127.0.0.1:0"|' \
    lab/virtual.toml >"$WORK/lab.toml"

# The twin keeps its console open on a FIFO, or it would stop reading commands at once.
mkfifo "$WORK/console"
"$BIN/yealink-twin" --lab "$WORK/lab.toml" --provisioning-url http://127.0.0.1:1/ \
    <"$WORK/console" >"$WORK/twin.log" 2>&1 &
TWIN_PID=$!
exec 3>"$WORK/console"
for _ in $(seq 100); do
    [[ -e "$WORK/dev/serial/by-id/usb-1a86_USB_Serial_LCUS-8_relay-power-if00-port0" ]] && break
    sleep 0.1
done

measure() {
    "$BIN/harness" bench relay --lab "$WORK/lab.toml" --bench t40p --count "$COUNT"
}

echo "alone:"
measure
echo "alone, again:"
measure

# The other process: the T46G's power relay, same board, without pause, until killed.
"$BIN/harness" bench relay --lab "$WORK/lab.toml" --bench t46g --count 100000000 >"$WORK/busy.log" 2>&1 &
BUSY_PID=$!
sleep 1
frames() { echo "frames relay-power" >&3; sleep 0.3; grep -o "frames relay-power: [0-9]*" "$WORK/twin.log" | tail -1 | grep -o "[0-9]*$"; }
first=$(frames); sleep 1; second=$(frames)
echo "the other process sends $((second - first)) frames a second"
kill -0 "$BUSY_PID" || { echo "the busy process stopped:"; cat "$WORK/busy.log"; exit 1; }
echo "beside a process switching another bench of the same board:"
measure
echo "beside it, again:"
measure
kill "$BUSY_PID" 2>/dev/null || true
wait "$BUSY_PID" 2>/dev/null || true
BUSY_PID=""
exec 3>&-
