#!/usr/bin/env bash
# The box next to Helia 7 and kubo 0.22 in one run, on loopback only (BENCHMARKS.md, "The public
# network"): a fresh Helia node resolves a DID's record over the DHT (the GET_VALUE answered by
# the peer it is connected to) and fetches the document over Bitswap, N times with nothing
# cached, from a box, from a Helia node that published a document of the same shape, and (the
# record only) from a kubo node a Helia node put such a record into, over kubo's LAN DHT
# (/ipfs/lan/kad/1.0.0), which the box is asked over too; then the idle RSS of a box in `lan`
# and in `public` mode, of the Helia node and of the kubo node.
# Usage: scripts/bench-interop.sh [--bin PATH] [--repeat N] [--perf FILE]   (default:
# target/fast/identity-box, built by `cargo build --profile fast --bin identity-box`; 30 rounds).
# --perf: the box's profile during its LAN DHT rounds (perf record, the CPU clock, call graphs),
# its top functions written to FILE.
# As root it runs in a network namespace of its own with only loopback (after installing the
# npm packages and kubo, which need the registries), so nothing can leave the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/fast/identity-box
repeat=30
perf_out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --perf) perf_out=$(realpath "$2"); shift 2 ;;
        *) echo "usage: scripts/bench-interop.sh [--bin PATH] [--repeat N] [--perf FILE]" >&2; exit 2 ;;
    esac
done
[ -x "$bin" ] || { echo "no $bin: cargo build --profile fast --bin identity-box" >&2; exit 1; }
helia=tests/interop/helia/run.sh
kubo=("$PWD/target/kubo-venv/bin/python" "$PWD/tests/interop/kubo/node.py")
if [ -z "${IDBOX_BENCH_NETNS:-}" ]; then
    tests/interop/helia/install.sh
    tests/interop/kubo/install.sh
    if [ "$(id -u)" = 0 ]; then
        # shellcheck disable=SC2016 # "$0" and "$@" are the inner shell's
        exec unshare --net env IDBOX_BENCH_NETNS=1 bash -c 'ip link set lo up && exec "$0" "$@"' \
            "$0" --bin "$bin" --repeat "$repeat" ${perf_out:+--perf "$perf_out"}
    fi
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    pkill -f "kubo/node.py $work/kubo" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# start_box NAME NETWORK: a box on 127.0.0.1 (no mDNS, no bootstrap peers); waits until its
# admin socket answers.
start_box() {
    local dir="$work/$1"
    mkdir -p "$dir"
    IDENTITY_BOX_IPFS__NETWORK=$2 IDENTITY_BOX_IPFS__MDNS=false IDENTITY_BOX_MDNS__ENABLED=false \
        IDENTITY_BOX_IPFS__LISTEN='["/ip4/127.0.0.1/tcp/0"]' RUST_LOG=warn \
        "$bin" serve --data-dir "$dir" --listen 127.0.0.1:0 >"$dir/out.log" 2>"$dir/err.log" &
    pids+=($!)
    echo $! >"$dir/pid"

    for _ in $(seq 1 100); do
        if "$bin" status --json --data-dir "$dir" >"$dir/status.json" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "box $1 did not start: $(cat "$dir/err.log")" >&2
    exit 1
}
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

start_box lan lan
box_addr=$(json "$work/lan/status.json" 'd["ipfs"]["listen"][0]')
uri=$("$bin" pair --uri --data-dir "$work/lan")
client() { "$bin" client --state "$work/phone.json" --json "$@"; }
client pair "$uri" >/dev/null
client identity create Alice >"$work/alice.json"
box_name=$(json "$work/alice.json" 'd["did"].split(":")[2]')

tail -f /dev/null | "$helia" publish.mjs --peer "$box_addr" --full-document >"$work/helia.json" \
    2>"$work/helia.log" &
pids+=($!)
for _ in $(seq 1 300); do [ -s "$work/helia.json" ] && break; sleep 0.1; done
helia_name=$(json "$work/helia.json" 'd["name"]')
helia_addr=$(json "$work/helia.json" 'd["addrs"][0]')
helia_pid=$(pgrep -f "publish.mjs --peer $box_addr" | head -n 1)

# kubo, and a Helia node that puts a record of the same shape into kubo's LAN DHT.
lan=/ipfs/lan/kad/1.0.0
# (In its own folder: kubo writes logs into the working directory.)
(cd "$work" && tail -f /dev/null | "${kubo[@]}" "$work/kubo" >"$work/kubo.json" 2>"$work/kubo.log") &
pids+=($!)
for _ in $(seq 1 300); do [ -s "$work/kubo.json" ] && break; sleep 0.1; done
kubo_addr=$(json "$work/kubo.json" 'd["addr"]')
kubo_pid=$(pgrep -f "kubo/node.py $work/kubo" | head -n 1)
tail -f /dev/null | "$helia" publish.mjs --peer "$kubo_addr" --full-document --protocol "$lan" \
    >"$work/helia-kubo.json" 2>"$work/helia-kubo.log" &
pids+=($!)
for _ in $(seq 1 300); do [ -s "$work/helia-kubo.json" ] && break; sleep 0.1; done
kubo_name=$(json "$work/helia-kubo.json" 'd["name"]')

echo "==> $repeat rounds against the box, Helia and kubo" >&2
"$helia" bench.mjs --peer "$box_addr" --name "$box_name" --repeat "$repeat" >"$work/bench-box.json"
"$helia" bench.mjs --peer "$helia_addr" --name "$helia_name" --repeat "$repeat" >"$work/bench-helia.json"
# The CPU time (user + system, ms) a process has used so far: what the peer spends on the
# rounds (a connection from a fresh node, its handshakes, and the answer).
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) * 1000 / hz }' "/proc/$1/stat"; }
box_pid=$(cat "$work/lan/pid")
box_cpu0=$(cpu_ms "$box_pid")
if [ -n "$perf_out" ]; then
    perf record --quiet -e cpu-clock -F 4000 -g -p "$box_pid" -o "$work/perf.data" 2>/dev/null &
    perf_pid=$!
fi
"$helia" bench.mjs --peer "$box_addr" --name "$box_name" --repeat "$repeat" --protocol "$lan" \
    --records-only >"$work/bench-box-lan.json"
box_cpu=$(awk -v a="$box_cpu0" -v b="$(cpu_ms "$box_pid")" 'BEGIN { print b - a }')
if [ -n "$perf_out" ]; then
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    # The share of the samples by crate (the first segment of a Rust symbol's path; by library
    # otherwise), then the top functions.
    perf report --stdio -i "$work/perf.data" --no-children --sort dso,symbol -g none 2>/dev/null \
        | grep -v '^#' | grep -v '^$' | sed 's/  */ /g' >"$work/perf.txt"
    {
        echo "share  where (the box's samples during its $repeat LAN DHT rounds)"
        awk '{ pct = $1; sub("%", "", pct); dso = $2; $1 = $2 = $3 = ""; sym = $0
               sub(/^ +/, "", sym); sub(/^<&?/, "", sym); split(sym, part, "::")
               key = (dso == "identity-box") ? part[1] : dso; share[key] += pct }
             END { for (k in share) printf "%5.1f%%  %s\n", share[k], k }' "$work/perf.txt" \
            | sort -rn | head -n 15
        echo
        echo "top functions"
        cut -c1-150 "$work/perf.txt" | head -n 15
    } >"$perf_out"
fi
kubo_cpu0=$(cpu_ms "$kubo_pid")
"$helia" bench.mjs --peer "$kubo_addr" --name "$kubo_name" --repeat "$repeat" --protocol "$lan" \
    --records-only >"$work/bench-kubo.json"
kubo_cpu=$(awk -v a="$kubo_cpu0" -v b="$(cpu_ms "$kubo_pid")" 'BEGIN { print b - a }')

start_box public public
sleep 5   # idle: both boxes and Helia have settled
rss() { ps -o rss= -p "$1" | awk '{printf "%.1f", $1 / 1024}'; }
rss_lan=$(rss "$(cat "$work/lan/pid")")
rss_public=$(rss "$(cat "$work/public/pid")")
rss_helia=$(rss "$helia_pid")
rss_kubo=$(rss "$kubo_pid")

python3 - "$work" "$repeat" "$rss_lan" "$rss_public" "$rss_helia" "$rss_kubo" "$box_cpu" "$kubo_cpu" <<'PY'
import json, statistics, sys
work, repeat, rss_lan, rss_public, rss_helia, rss_kubo, box_cpu, kubo_cpu = sys.argv[1:]
box = json.load(open(f"{work}/bench-box.json"))
hel = json.load(open(f"{work}/bench-helia.json"))
box_lan = json.load(open(f"{work}/bench-box-lan.json"))
kubo = json.load(open(f"{work}/bench-kubo.json"))
med = lambda xs: statistics.median(xs)
b, k = med(box_lan["record_ms"]), med(kubo["record_ms"])
print(f"| measure ({repeat} rounds, median) | box | kubo 0.22 | box / kubo |")
print("|---|---|---|---|")
print(f"| LAN DHT answer: the name's record (ms) | {b:.2f} | {k:.2f} | {b / k:.2f} |")
bc, kc = float(box_cpu) / int(repeat), float(kubo_cpu) / int(repeat)
print(f"| CPU per round: connection, handshakes, answer (ms) | {bc:.2f} | {kc:.2f} | {bc / kc:.2f} |")
print(f"| idle RSS (MiB) | {rss_lan} (`lan`) | {rss_kubo} (in Python) | "
      f"{float(rss_lan) / float(rss_kubo):.2f} |")
print()
print(f"| measure ({repeat} rounds, median) | box | Helia 7 | box / Helia |")
print("|---|---|---|---|")
for key, what in [("record_ms", "DHT answer: the name's record (ms)"),
                  ("document_ms", "Bitswap: the document (ms)"),
                  ("total_ms", "resolve a DID: record + document (ms)")]:
    b, h = med(box[key]), med(hel[key])
    print(f"| {what} | {b:.2f} | {h:.2f} | {b / h:.2f} |")
print(f"| idle RSS (MiB) | {rss_lan} (`lan`), {rss_public} (`public`) | {rss_helia} | "
      f"{float(rss_lan) / float(rss_helia):.2f} (`lan`) |")
PY
