#!/usr/bin/env bash
# How the lab-file check grows with the number of benches: `harness list` on lab files of
# 5,000 to 160,000 benches, each bench with mistakes (half an unknown key, half the MAC, IP,
# power relay and actuator keys of the first bench: five problems per two benches), so that
# every bench adds to the report. Doubling the benches should about double the time; a
# ratio near 4 is a quadratic part back in the reader.
#
#   lab/bench/lab-check.sh                    (from the checkout; builds the release binary)
#   HARNESS=/path/to/harness lab/bench/...    (use a binary already built)
#   COUNTS="5000 10000 20000" ...             (bench counts; default 5000 to 160000)
set -euo pipefail

cd "$(dirname "$0")/../.."
COUNTS=${COUNTS:-"5000 10000 20000 40000 80000 160000"}

if [[ -z "${HARNESS:-}" ]]; then
    cargo build --release -p harness --quiet
    HARNESS="${CARGO_TARGET_DIR:-target}/release/harness"
fi

WORK=$(mktemp -d /tmp/lab-check-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# A lab of two boards, one actuator, one keymap and bench `one`, then COUNT broken benches.
write_lab() {
    local count=$1 file=$2
    cat >"$file" <<'EOF'
[lab]
name = "scale"
time_scale = 1.0

[endpoints]
provisioning = "127.0.0.1:0"
foreign_provisioning = "127.0.0.1:0"
tftp = "127.0.0.1:0"
sip = "127.0.0.1:0"
syslog = "127.0.0.1:0"

[[relay_board]]
name = "power"
kind = "lcus"
port = "/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0"
channels = 4

[[actuator]]
name = "keys"
port = "/dev/serial/by-id/usb-yealink-lab_actuator_keys-if00"
channels = 24

[keymap.t4x]
speaker = 1
ok = 2
cancel = 3
f1 = 4
f2 = 5
f3 = 6
f4 = 7
"0" = 8
"1" = 9
"2" = 10
"3" = 11
"4" = 12
"5" = 13
"6" = 14
"7" = 15
"8" = 16
"9" = 17
star = 18
pound = 19

[[bench]]
name = "one"
model = "T46G"
mac = "00:15:65:00:00:01"
ip = "127.0.0.11"
power = { board = "power", channel = 1 }
actuator = "keys"
keymap = "t4x"
EOF
    awk -v count="$count" 'BEGIN {
        for (k = 0; k < count; k++) {
            if (k % 2 == 0) {
                printf "\n[[bench]]\nname = \"b%d\"\ncolour = \"red\"\n", k
            } else {
                printf "\n[[bench]]\nname = \"b%d\"\nmodel = \"T46G\"\nmac = \"00:15:65:00:00:01\"\n", k
                printf "ip = \"127.0.0.11\"\npower = { board = \"power\", channel = 1 }\n"
                printf "actuator = \"keys\"\nkeymap = \"t4x\"\n"
            }
        }
    }' >>"$file"
}

printf "%8s %10s %10s %8s\n" benches problems seconds ratio
previous=""
for count in $COUNTS; do
    lab="$WORK/lab-$count.toml"
    write_lab "$count" "$lab"
    start=$(date +%s.%N)
    set +e
    "$HARNESS" list --lab "$lab" >/dev/null 2>"$WORK/errors"
    code=$?
    set -e
    end=$(date +%s.%N)
    if [[ $code -ne 2 ]]; then
        echo "expected exit code 2 (config error) for $count benches, got $code" >&2
        exit 1
    fi
    problems=$(wc -l <"$WORK/errors")
    seconds=$(echo "$end - $start" | bc -l)
    ratio="-"
    [[ -n "$previous" ]] && ratio=$(printf "%.2f" "$(echo "$seconds / $previous" | bc -l)")
    printf "%8d %10d %10.2f %8s\n" "$count" "$problems" "$seconds" "$ratio"
    previous=$seconds
done
