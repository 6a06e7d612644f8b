#!/usr/bin/env bash
# The scenario matrix as a benchmark: wall time, CPU, peak memory and per-case overhead on
# 8 benches (one per model) and on 64 benches (eight per model, eight times the cases), the
# step dispatch latency, and a flake count under CPU load.
#
#   lab/bench/matrix.sh                 (builds the release binary; RUNS runs of each lab)
#   lab/bench/matrix.sh flake [N]       (N runs of the default lab with two busy-loop CPU
#                                        hogs alongside; counts every case that is not pass,
#                                        but for the skips the plan decides)
#   HARNESS=/path/to/harness RUNS=3 lab/bench/matrix.sh
#
# Every run is `harness run --no-history` under /usr/bin/time -v, on a private copy of the
# lab file (its own serial device folder, loopback block, free endpoint ports and lease
# folder), so it never meets another run on the same host. The 64-bench run has eight
# copies of every scenario (`<name>-r2` ... with its snapshots), so each bench of a pool has
# as many cases as a bench of the 8-bench run.
#
# Figures (medians over the runs):
#   wall, CPU (user + system), peak RSS            from /usr/bin/time -v
#   per-case harness overhead                       case wall time less the time the case
#                                                   waited on the phone (events, pauses,
#                                                   dwells, key holds, answers), from the
#                                                   "case timing" lines of harness.log
#   dispatch latency                                a key step's log line to the twin's log
#                                                   line for its first byte on the
#                                                   actuator's pty (both in harness.log,
#                                                   microsecond timestamps)
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$(pwd)
RUNS=${RUNS:-3}
MODE=${1:-matrix}
FLAKE_RUNS=${2:-20}

if [[ -z "${HARNESS:-}" ]]; then
    cargo build --release -p harness --quiet
    HARNESS="${CARGO_TARGET_DIR:-target}/release/harness"
fi
[[ -x /usr/bin/time ]] || { echo "needs /usr/bin/time (GNU time, package 'time')" >&2; exit 3; }

WORK=$(mktemp -d /tmp/matrix-bench.XXXXXX)
# Leases and journals where the harness keeps them by default: the runtime folder (tmpfs
# on a systemd host), else /dev/shm; private to this benchmark. The journal syncs every
# action to disk before it is sent, so on a disk shared with other work its fsyncs, not
# the harness, set the pace: LOCK_BASE=/some/disk/folder measures that.
LOCK_BASE=${LOCK_BASE:-${XDG_RUNTIME_DIR:-/dev/shm}}
LOCK_BASE="$LOCK_BASE/matrix-bench.$$"
HOGS=()
cleanup() {
    for pid in "${HOGS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK" "$LOCK_BASE"
}
trap cleanup EXIT

# private_lab COUNT DIR: lab/virtual.toml with COUNT benches per model, made private to DIR.
private_lab() {
    local count=$1 dir=$2
    local a=$((RANDOM % 250 + 2)) b=$(((RANDOM % 120 + 1) * 2))
    mkdir -p "$dir"
    sed -e "s|^count = [0-9]*|count = $count|" \
        -e "s|/tmp/yealink-virtual-lab|$dir/dev|g" \
        -e "s|\"127\.0\.0\.|\"127.$a.$b.|g" \
        -e "s|\"127\.0\.1\.|\"127.$a.$((b + 1)).|g" \
        -e "s|^\[lab\]$|[lab]\nlock_dir = \"$LOCK_BASE/$(basename "$(dirname "$dir")")/locks\"|" \
        -e "s|\"\.\./firmware-fixtures\"|\"$ROOT/firmware-fixtures\"|" \
        -e "s|:18080\"|:0\"|; s|:18081\"|:0\"|; s|:10069\"|:0\"|; s|:15060\"|:0\"|; s|:10514\"|:0\"|" \
        lab/virtual.toml >"$dir/lab.toml"
    echo "$dir/lab.toml"
}

# scenario_copies FACTOR DIR: the scenarios and snapshots, each scenario FACTOR times.
scenario_copies() {
    local factor=$1 dir=$2
    mkdir -p "$dir/snapshots"
    cp scenarios/*.toml "$dir/"
    cp scenarios/snapshots/*.snap "$dir/snapshots/"
    local copy name snap model
    for ((copy = 2; copy <= factor; copy++)); do
        for file in scenarios/*.toml; do
            name=$(basename "$file" .toml)
            cp "$file" "$dir/$name-r$copy.toml"
            for snap in scenarios/snapshots/"$name"@*.snap; do
                model=${snap##*@}
                sed "s|^scenario: $name\$|scenario: $name-r$copy|" "$snap" \
                    >"$dir/snapshots/$name-r$copy@$model"
            done
        done
    done
    echo "$dir"
}

# one_run LAB SCENARIOS OUT: one matrix run; prints "wall cpu rss_kb cases not_pass".
one_run() {
    local lab=$1 scenarios=$2 out=$3
    local code=0
    HARNESS_LOG="info,yealink_twin::serial=debug" /usr/bin/time -v -o "$out.time" \
        "$HARNESS" run --lab "$lab" --scenarios "$scenarios" \
        --no-history --no-wait --out "$out" >"$out.stdout" 2>"$out.stderr" || code=$?
    python3 - "$out" "$code" <<'EOF'
import json, re, sys
out, code = sys.argv[1], sys.argv[2]
t = open(out + ".time").read()
def field(name):
    return re.search(re.escape(name) + r": (.*)", t).group(1).strip()
wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
parts = [float(p) for p in wall.split(":")]
secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
rss = int(field("Maximum resident set size (kbytes)"))
try:
    cases = json.load(open(out + "/summary.json"))["cases"]
except Exception:
    cases = []
# A case the plan skips (not applicable to its model, or refused for want of an approval) is
# the same in every run: only a case that ran and did not pass, or a skip for another
# reason (a bench gone bad), counts.
def planned_skip(c):
    return c["outcome"] == "skipped" and c["detail"].startswith(("not applicable", "approval missing"))
bad = [f'{c["scenario"]}@{c["model"]} on {c["bench"]}: {c["outcome"]}' for c in cases
       if c["outcome"] != "pass" and not planned_skip(c)]
print(f"{secs:.2f} {cpu:.2f} {rss} {len(cases)} {len(bad)} {code}")
for b in bad:
    print("  not pass: " + b, file=sys.stderr)
EOF
}

# stats RUNDIR...: per-case overhead and dispatch latency over the runs' harness.log files.
stats() {
    python3 - "$@" <<'EOF'
import re, sys, statistics
from datetime import datetime
ansi = re.compile(r"\x1b\[[0-9;]*m")
def when(line):
    return datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp()
overheads, latencies = [], []
for run in sys.argv[1:]:
    try:
        lines = [ansi.sub("", l) for l in open(run + "/harness.log")]
    except OSError:
        continue
    received = []
    steps = []
    for line in lines:
        if "case timing" in line:
            wall = float(re.search(r"wall_ms=([0-9.]+)", line).group(1))
            phone = float(re.search(r"phone_ms=([0-9.]+)", line).group(1))
            overheads.append(wall - phone)
        elif "serial bytes received" in line:
            link = re.search(r"link=(\S+)", line).group(1)
            received.append((when(line), link))
        else:
            m = re.search(r"engine: (Tap|Hold|Release|Dial)\b.*? bench=(\S+) scenario=\S+ step=\d+", line)
            if m:
                steps.append((when(line), m.group(2)))
    received.sort()
    for at, bench in steps:
        # Bench t46g-3 presses keys through actuator keys-t46g-3, port ...keys-t46g-if00-3.
        base = re.match(r"^(.*?)(?:-(\d+))?$", bench)
        suffix = f"keys-{base.group(1)}-if00" + (f"-{base.group(2)}" if base.group(2) else "")
        later = next((t for t, link in received if t >= at and link.endswith(suffix)), None)
        if later is not None:
            latencies.append((later - at) * 1000.0)
def show(name, values, unit):
    if not values:
        print(f"{name:<34} (none measured)")
        return
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    print(f"{name:<34} median {statistics.median(values):8.3f} {unit}   p95 {p95:8.3f} {unit}   n={len(values)}")
show("per-case harness overhead", overheads, "ms")
show("step dispatch latency (key steps)", latencies, "ms")
EOF
}

median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

# bench_lab LABEL COUNT FACTOR: RUNS runs; prints the medians; sets WALL_<LABEL>.
declare -A WALL
bench_lab() {
    local label=$1 count=$2 factor=$3
    local lab scenarios
    lab=$(private_lab "$count" "$WORK/$label/lab")
    scenarios=$(scenario_copies "$factor" "$WORK/$label/scenarios")
    echo "== $label: $count bench(es) per model, $factor x the scenarios, $RUNS runs"
    local walls=() cpus=() rsss=() dirs=()
    for ((i = 1; i <= RUNS; i++)); do
        local out="$WORK/$label/run$i"
        local line
        line=$(one_run "$lab" "$scenarios" "$out" 2>"$out.notpass")
        read -r wall cpu rss cases notpass code <<<"$line"
        printf '   run %d: wall %6.2f s  cpu %6.2f s  peak RSS %6.1f MB  %d cases, %d not pass (exit %d)\n' \
            "$i" "$wall" "$cpu" "$(awk -v k="$rss" 'BEGIN{print k/1024}')" "$cases" "$notpass" "$code"
        sed 's/^/      /' "$out.notpass"
        walls+=("$wall"); cpus+=("$cpu"); rsss+=("$rss"); dirs+=("$out")
    done
    WALL[$label]=$(median "${walls[@]}")
    printf '   median: wall %.2f s, cpu %.2f s, peak RSS %.1f MB\n' \
        "${WALL[$label]}" "$(median "${cpus[@]}")" "$(awk -v k="$(median "${rsss[@]}")" 'BEGIN{print k/1024}')"
    stats "${dirs[@]}" | sed 's/^/   /'
}

if [[ "$MODE" == flake ]]; then
    lab=$(private_lab "$(sed -n 's/^count = \([0-9]*\)/\1/p' lab/virtual.toml | head -n 1)" "$WORK/flake/lab")
    echo "== flake mode: $FLAKE_RUNS runs of lab/virtual.toml with two CPU hogs"
    for _ in 1 2; do
        (while :; do :; done) &
        HOGS+=($!)
    done
    # A copy: a differing transcript leaves its pending snapshot there, not in the checkout.
    scenarios=$(scenario_copies 1 "$WORK/flake/scenarios")
    total=0
    for ((i = 1; i <= FLAKE_RUNS; i++)); do
        out="$WORK/flake/run$i"
        line=$(one_run "$lab" "$scenarios" "$out" 2>"$out.notpass")
        read -r wall cpu rss cases notpass code <<<"$line"
        printf '   run %2d: wall %6.2f s  %d cases, %d not pass\n' "$i" "$wall" "$cases" "$notpass"
        sed 's/^/      /' "$out.notpass"
        total=$((total + notpass))
    done
    echo "flaky cases: $total in $FLAKE_RUNS runs"
    [[ $total -eq 0 ]]
    exit
fi

echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); leases in $LOCK_BASE"
default=$(sed -n 's/^count = \([0-9]*\)/\1/p' lab/virtual.toml | head -n 1)
bench_lab "default-lab" "$default" 1
bench_lab bench8 1 1
bench_lab bench64 8 8
awk -v a="${WALL[bench64]}" -v b="${WALL[bench8]}" \
    'BEGIN { printf "64 benches (8x the cases) / 8 benches: %.2fx the wall time\n", a / b }'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
