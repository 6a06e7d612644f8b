#!/usr/bin/env bash
# Recovery TFTP throughput: the harness's server against tftpd-hpa, on loopback, fetching a
# 20 MiB synthetic firmware image with the harness's own benchmark client and with two
# clients the project did not write: tftp-hpa's `tftp` and curl.
#
#   lab/bench/tftp-vs-tftpd-hpa.sh            (from the checkout; builds the release binary)
#   HARNESS=/path/to/harness lab/bench/...    (use a binary already built)
#   RUNS=5 SIZE_MB=20 ...                     (defaults)
#
# RUNS fetches per case, against each server in the same run: with the harness's client,
# lock-step RFC 1350 (512-byte blocks, no options) and blksize 1428 + windowsize 16 (RFC
# 7440); with tftp-hpa's client, lock-step (it sends no options); with curl, lock-step
# (--tftp-no-options) and blksize 1428 (curl has no windowsize). The harness serves only a
# bench's phone address, and tftp-hpa's client cannot pick its source address, so the
# harness's server runs on a copy of lab/virtual.toml whose bench t46g is at 127.0.0.1;
# every client fetches from there.
set -euo pipefail

cd "$(dirname "$0")/../.."
RUNS=${RUNS:-5}
SIZE_MB=${SIZE_MB:-20}
BENCH=t46g
CLIENT_IP=127.0.0.1

if ! command -v in.tftpd >/dev/null 2>&1 || ! command -v tftp >/dev/null 2>&1; then
    echo "== installing tftpd-hpa and tftp-hpa"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tftpd-hpa tftp-hpa >/dev/null
fi
command -v curl >/dev/null 2>&1 || { echo "needs curl" >&2; exit 3; }

if [[ -z "${HARNESS:-}" ]]; then
    cargo build --release -p harness --quiet
    HARNESS="${CARGO_TARGET_DIR:-target}/release/harness"
fi

WORK=$(mktemp -d /tmp/tftp-bench.XXXXXX)
HPA_PID=""
HARNESS_PID=""
cleanup() {
    # SIGINT lets the harness's server stop cleanly and remove its staging folder.
    [[ -n "$HARNESS_PID" ]] && kill -INT "$HARNESS_PID" 2>/dev/null && wait "$HARNESS_PID" 2>/dev/null
    [[ -n "$HPA_PID" ]] && kill "$HPA_PID" 2>/dev/null && wait "$HPA_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

LAB="$WORK/lab.toml"
sed -e 's|"127.0.0.46"|"127.0.0.1"|' -e 's|^count = [0-9]*|count = 1|' -e "s|\"\.\./firmware-fixtures\"|\"$(pwd)/firmware-fixtures\"|" \
    lab/virtual.toml >"$LAB"

echo "== writing a ${SIZE_MB} MiB synthetic image"
"$HARNESS" fixtures synth --out "$WORK/synth" --size-mb "$SIZE_MB" >/dev/null
IMAGE=$(find "$WORK/synth/T46G" -name '*.rom' | sort | head -n 1)
mkdir -p "$WORK/tftpboot"
cp "$IMAGE" "$WORK/tftpboot/T46G.rom"
chmod 755 "$WORK" "$WORK/tftpboot"
chmod 644 "$WORK/tftpboot/T46G.rom"
BYTES=$(stat -c %s "$WORK/tftpboot/T46G.rom")
echo "   $(basename "$IMAGE") as T46G.rom, $BYTES bytes"

echo "== starting tftpd-hpa ($(in.tftpd -V 2>&1 | head -n 1))"
for _ in 1 2 3 4 5 6 7 8 9 10; do
    HPA_PORT=$((20000 + RANDOM % 40000))
    # -L foreground, -s chroot into the folder, -B 1468 so blksize 1428 is granted.
    in.tftpd -L -s "$WORK/tftpboot" -a "127.0.0.1:$HPA_PORT" -B 1468 &
    HPA_PID=$!
    sleep 0.3
    kill -0 "$HPA_PID" 2>/dev/null && break
    HPA_PID=""
done
[[ -n "$HPA_PID" ]] || { echo "tftpd-hpa did not start" >&2; exit 3; }
HPA="127.0.0.1:$HPA_PORT"

echo "== starting the harness's TFTP server"
"$HARNESS" bench tftp-serve --lab "$LAB" --bench "$BENCH" \
    --file "$WORK/tftpboot/T46G.rom" --bind 127.0.0.1:0 >"$WORK/serve.log" 2>&1 &
HARNESS_PID=$!
OURS=""
for _ in $(seq 1 50); do
    OURS=$(sed -n 's/^tftp //p' "$WORK/serve.log" | head -n 1)
    [[ -n "$OURS" ]] && break
    sleep 0.1
done
[[ -n "$OURS" ]] || { echo "the harness's TFTP server did not start:" >&2; cat "$WORK/serve.log" >&2; exit 3; }
echo "   tftpd-hpa on $HPA, harness on $OURS"

# measure LABEL SERVER [client options...]: prints the runs, remembers the median.
declare -A MEDIAN
measure() {
    local label=$1 server=$2
    shift 2
    echo "== $label"
    local out
    out=$("$HARNESS" bench tftp --server "$server" --file T46G.rom --runs "$RUNS" \
        --from "$CLIENT_IP" "$@")
    echo "$out" | sed 's/^/   /'
    MEDIAN[$label]=$(echo "$out" | sed -n 's/^median \([0-9.]*\) s.*/\1/p')
}

# measure_external LABEL COMMAND...: RUNS fetches into $WORK/fetched, timed here; each
# fetch must bring every byte.
measure_external() {
    local label=$1
    shift
    echo "== $label"
    local times=()
    for ((i = 1; i <= RUNS; i++)); do
        rm -f "$WORK/fetched"
        local start end
        start=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || true
        end=$(date +%s.%N)
        local got
        got=$(stat -c %s "$WORK/fetched" 2>/dev/null || echo 0)
        if [[ "$got" != "$BYTES" ]]; then
            # A client the server does not serve is a finding, printed in the table.
            echo "   run $i: FAILED, fetched $got of $BYTES bytes: $("$@" 2>&1 | tail -n 1)"
            MEDIAN[$label]=nan
            return
        fi
        times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')")
        echo "   run $i: ${times[-1]} s"
    done
    MEDIAN[$label]=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
}
hpa_client() { # SERVER(host:port)
    tftp -m binary "${1%:*}" "${1##*:}" -c get T46G.rom "$WORK/fetched"
}
curl_client() { # SERVER [curl options...]
    local server=$1
    shift
    curl --silent --show-error --interface "$CLIENT_IP" "$@" -o "$WORK/fetched" "tftp://$server/T46G.rom"
}

measure "harness lock-step 512" "$OURS"
measure "tftpd-hpa lock-step 512" "$HPA"
measure "harness 1428/ws16" "$OURS" --blksize 1428 --windowsize 16
measure "tftpd-hpa 1428/ws16" "$HPA" --blksize 1428 --windowsize 16
measure_external "tftp-hpa: harness 512" hpa_client "$OURS"
measure_external "tftp-hpa: tftpd-hpa 512" hpa_client "$HPA"
measure_external "curl: harness 512" curl_client "$OURS" --tftp-no-options
measure_external "curl: tftpd-hpa 512" curl_client "$HPA" --tftp-no-options
measure_external "curl: harness 1428" curl_client "$OURS" --tftp-blksize 1428
measure_external "curl: tftpd-hpa 1428" curl_client "$HPA" --tftp-blksize 1428

echo
echo "== medians ($BYTES bytes, $RUNS runs each)"
printf '%-26s %10s %10s\n' case seconds MB/s
for label in "harness lock-step 512" "tftpd-hpa lock-step 512" "harness 1428/ws16" "tftpd-hpa 1428/ws16" \
    "tftp-hpa: harness 512" "tftp-hpa: tftpd-hpa 512" "curl: harness 512" "curl: tftpd-hpa 512" \
    "curl: harness 1428" "curl: tftpd-hpa 1428"; do
    if [[ "${MEDIAN[$label]}" == nan ]]; then
        printf '%-26s %10s %10s\n' "$label" failed -
        continue
    fi
    awk -v l="$label" -v s="${MEDIAN[$label]}" -v b="$BYTES" \
        'BEGIN { printf "%-26s %10.3f %10.1f\n", l, s, b / 1e6 / s }'
done
ratio() {
    if [[ "${MEDIAN[$1]}" == nan || "${MEDIAN[$2]}" == nan ]]; then
        echo "n/a (a fetch failed)"
        return
    fi
    awk -v a="${MEDIAN[$2]}" -v b="${MEDIAN[$1]}" 'BEGIN { printf "%.2f", a / b }'
}
echo
echo "speed ratios (higher = harness faster):"
echo "   harness lock-step 512 / tftpd-hpa lock-step 512 : $(ratio "harness lock-step 512" "tftpd-hpa lock-step 512")x"
echo "   harness 1428/ws16     / tftpd-hpa lock-step 512 : $(ratio "harness 1428/ws16" "tftpd-hpa lock-step 512")x"
echo "   harness 1428/ws16     / tftpd-hpa 1428/ws16     : $(ratio "harness 1428/ws16" "tftpd-hpa 1428/ws16")x"
echo "   tftp-hpa client, lock-step: harness / tftpd-hpa   : $(ratio "tftp-hpa: harness 512" "tftp-hpa: tftpd-hpa 512")x"
echo "   curl, lock-step:            harness / tftpd-hpa   : $(ratio "curl: harness 512" "curl: tftpd-hpa 512")x"
echo "   curl, blksize 1428:         harness / tftpd-hpa   : $(ratio "curl: harness 1428" "curl: tftpd-hpa 1428")x"
echo "   curl, blksize 1428 (harness) / lock-step (tftpd-hpa): $(ratio "curl: harness 1428" "curl: tftpd-hpa 512")x"
