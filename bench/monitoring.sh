#!/bin/bash
# Status for machines (issue 14), side by side with Debian's svstat in the
# same run:
#   1. one scrape of N services (default 1000, each with a live supervise
#      and a `down` file): Debian's `svstat DIR...` (the reference: what a
#      scraper ran until now), our `svstat DIR...`, `svstat --json DIR...`
#      and `svstat --prometheus DIR...`: user-space instructions of one
#      call (valgrind's callgrind, exact) and wall time per call (best of
#      --rounds rounds (default 5) of --runs calls, ours and the reference
#      alternating).
#      Target: --prometheus <= 2x the reference, in both figures;
#   2. svmetrics on a tree of --exporter-services services (default 100):
#      --rate scrapes/s (default 100) for --seconds (default 60) over one
#      keep-alive connection: svmetrics' CPU per scrape (utime+stime from
#      /proc/PID/stat) and its RSS before and after;
#   3. RSS flat: --scrapes scrapes (default 100000) as fast as one client
#      asks, RSS sampled every tenth of them.
#
# Usage: bench/monitoring.sh [--ours DIR] [--ref DIR] [--services N]
#          [--runs N] [--rounds N] [--exporter-services N] [--rate R] [--seconds S]
#          [--scrapes N]
#   --ours DIR  our binaries (default: target/release, built first)
#   --ref DIR   the reference's svstat (default: /usr/bin)
# The trees run under our svscan and supervise (`down` files: supervise
# runs, no service process). Every process is ended by PID (svscan, then
# each supervise), the temp directory removed. Output: a markdown table,
# then `BENCH name=value` lines.
set -eu
cd "$(dirname "$0")/.."
ours=""
ref=/usr/bin
n=1000
runs=20
rounds=5
en=100
rate=100
seconds=60
scrapes=100000
while [ $# -gt 0 ]; do
  case "$1" in
    --ours) ours=$2; shift 2 ;;
    --ref) ref=$2; shift 2 ;;
    --services) n=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --exporter-services) en=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --scrapes) scrapes=$2; shift 2 ;;
    *) echo "usage: $0 [--ours DIR] [--ref DIR] [--services N] [--runs N] [--rounds N] [--exporter-services N] [--rate R] [--seconds S] [--scrapes N]" >&2; exit 100 ;;
  esac
done
if [ -z "$ours" ]; then
  cargo build --release -q
  ours=$PWD/target/release
fi
ours=$(cd "$ours" && pwd)
[ -x "$ref/svstat" ] || { echo "reference $ref/svstat missing (apt-get install daemontools)" >&2; exit 111; }
for b in svscan supervise svok svstat svmetrics; do
  [ -x "$ours/$b" ] || { echo "$ours/$b missing" >&2; exit 111; }
done
command -v python3 >/dev/null || { echo "python3 missing (the scraping client)" >&2; exit 111; }

work=$(mktemp -d "${TMPDIR:-/tmp}/monitoring-bench.XXXXXX")
scan_pids=()
exporter=

. bench/lib.sh  # members

stop_trees() {
  local pgid p i sup rest
  for pgid in "${scan_pids[@]}"; do
    kill -9 "$pgid" 2>/dev/null || true
    wait "$pgid" 2>/dev/null || true
    for i in $(seq 50); do
      sup=$(members "$pgid" supervise)
      for p in $sup; do kill -9 "$p" 2>/dev/null || true; done
      rest=$(members "$pgid" '!supervise')
      for p in $rest; do kill -9 "$p" 2>/dev/null || true; done
      [ -z "$sup$rest" ] && break
      sleep 0.1
    done
  done
  scan_pids=()
}
cleanup() {
  if [ -n "$exporter" ]; then kill -9 "$exporter" 2>/dev/null || true; wait "$exporter" 2>/dev/null || true; fi
  stop_trees
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A tree of $2 services under $1 (`down` files), supervised by our svscan
# in its own process group; returns once every supervise answers.
tree() { # scandir count
  local i d
  mkdir -p "$1"
  for i in $(seq -f '%05g' 1 "$2"); do
    d="$1/s$i"
    mkdir "$d"
    printf '#!/bin/sh\nexec sleep 100000\n' > "$d/run"
    chmod 755 "$d/run"
    : > "$d/down"
  done
  (cd "$1" && exec setsid env PATH="$ours:/usr/bin:/bin" "$ours/svscan" "$1" </dev/null >"$work/svscan.out" 2>&1) &
  scan_pids+=("$!")
  for d in "$1"/s*; do
    local end=$(( ${EPOCHREALTIME%.*} + 120 ))
    until "$ours/svok" "$d" 2>/dev/null; do
      [ "${EPOCHREALTIME%.*}" -lt "$end" ] || { echo "no supervise on $d" >&2; exit 111; }
      sleep 0.05
    done
  done
}

instr() { # binary args... -> user-space instructions of one call
  if command -v valgrind >/dev/null 2>&1; then
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
      awk '/Collected :/ { n = $4 } END { print n + 0 }'
  else
    echo 0
  fi
}
wall1() { # binary args... -> mean microseconds per call over $runs calls
  local start end i
  start=${EPOCHREALTIME/./}
  for ((i = 0; i < runs; i++)); do "$@" >/dev/null 2>&1 || :; done
  end=${EPOCHREALTIME/./}
  echo $(( (end - start) / runs ))
}
best() { sort -n | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }

# --- 1. one scrape of N services -------------------------------------------
scan="$work/service"
tree "$scan" "$n"
cd "$scan"
dirs=(s*)
# every form must read every directory as supervised
[ "$("$ref/svstat" "${dirs[@]}" | grep -c ': down ')" = "$n" ] || { echo "reference svstat: not all down" >&2; exit 111; }
[ "$("$ours/svstat" --json "${dirs[@]}" | grep -c '"state":"down"')" = "$n" ] || { echo "svstat --json: not all down" >&2; exit 111; }
i_ref=$(instr "$ref/svstat" "${dirs[@]}")
i_plain=$(instr "$ours/svstat" "${dirs[@]}")
i_json=$(instr "$ours/svstat" --json "${dirs[@]}")
i_prom=$(instr "$ours/svstat" --prometheus "${dirs[@]}")
w_ref=() w_plain=() w_json=() w_prom=()
for ((round = 0; round < rounds; round++)); do
  w_ref+=("$(wall1 "$ref/svstat" "${dirs[@]}")")
  w_prom+=("$(wall1 "$ours/svstat" --prometheus "${dirs[@]}")")
  w_plain+=("$(wall1 "$ours/svstat" "${dirs[@]}")")
  w_json+=("$(wall1 "$ours/svstat" --json "${dirs[@]}")")
done
w_ref=$(printf '%s\n' "${w_ref[@]}" | best)
w_plain=$(printf '%s\n' "${w_plain[@]}" | best)
w_json=$(printf '%s\n' "${w_json[@]}" | best)
w_prom=$(printf '%s\n' "${w_prom[@]}" | best)
prom_bytes=$("$ours/svstat" --prometheus "${dirs[@]}" | wc -c)
cd - >/dev/null
stop_trees

# --- 2. and 3. svmetrics ----------------------------------------------------
escan="$work/exporter"
tree "$escan" "$en"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$ours/svmetrics" -l "127.0.0.1:$port" "$escan" </dev/null >/dev/null 2>"$work/svmetrics.err" &
exporter=$!
cat > "$work/scrape.py" <<'EOF'
# scrape.py PORT RATE COUNT [PID]: COUNT scrapes of /metrics over one
# keep-alive connection, RATE per second (0: as fast as possible); with
# PID, prints that process's RSS (kB) every tenth of COUNT.
import http.client, sys, time
port, rate, count = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
pid = sys.argv[4] if len(sys.argv) > 4 else None
def rss():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
start = time.monotonic()
for i in range(count):
    if rate > 0:
        due = start + i / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
    c.request("GET", "/metrics")
    r = c.getresponse()
    body = r.read()
    if r.status != 200 or b"daemontools_services " not in body:
        sys.exit(f"scrape {i}: status {r.status}")
    if pid and (i + 1) % max(1, count // 10) == 0:
        print(i + 1, rss(), flush=True)
print("elapsed", time.monotonic() - start, flush=True)
EOF
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))" 2>/dev/null && break
  sleep 0.05
done
cpu() { awk '{ print $14 + $15 }' "/proc/$exporter/stat"; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$exporter/status"; }
hz=$(getconf CLK_TCK)
python3 "$work/scrape.py" "$port" 0 100 >/dev/null   # warm-up
rss0=$(rss)
c0=$(cpu)
count=$((rate * seconds))
elapsed=$(python3 "$work/scrape.py" "$port" "$rate" "$count" | awk '/^elapsed/ { print $2 }')
c1=$(cpu)
rss1=$(rss)
cpu_ms=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v n="$count" 'BEGIN { printf "%.3f", t * 1000 / hz / n }')
cpu_share=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v e="$elapsed" 'BEGIN { printf "%.1f", t / hz / e * 100 }')
python3 "$work/scrape.py" "$port" 0 "$scrapes" "$exporter" > "$work/rss.txt"
rss_first=$(awk 'NR == 1 { print $2 }' "$work/rss.txt")
rss_last=$(awk '$1 != "elapsed" { r = $2 } END { print r }' "$work/rss.txt")
rss_max=$(awk '$1 != "elapsed" && $2 > m { m = $2 } END { print m }' "$work/rss.txt")
fast=$(awk '/^elapsed/ { printf "%.0f", n / $2 }' n="$scrapes" "$work/rss.txt")
body=$(python3 -c "
import http.client; c = http.client.HTTPConnection('127.0.0.1', $port); c.request('GET', '/metrics'); print(len(c.getresponse().read()))")

cat <<EOF
## One scrape of $n services (instructions: callgrind; wall: best of $rounds x $runs calls)

| command | instructions | ratio | wall per call (us) | ratio |
|---|---|---|---|---|
| Debian svstat DIR... (reference) | $i_ref | 1.00 | $w_ref | 1.00 |
| our svstat DIR... | $i_plain | $(ratio "$i_plain" "$i_ref") | $w_plain | $(ratio "$w_plain" "$w_ref") |
| our svstat --json DIR... | $i_json | $(ratio "$i_json" "$i_ref") | $w_json | $(ratio "$w_json" "$w_ref") |
| our svstat --prometheus DIR... | $i_prom | $(ratio "$i_prom" "$i_ref") | $w_prom | $(ratio "$w_prom" "$w_ref") |

--prometheus output: $prom_bytes bytes.

## svmetrics, $en services ($body bytes per scrape)

| figure | value |
|---|---|
| scrapes at $rate/s for ${seconds} s | $count in ${elapsed%.*} s |
| CPU per scrape (ms) | $cpu_ms |
| CPU share at $rate/s (%) | $cpu_share |
| RSS before / after (kB) | $rss0 / $rss1 |
| $scrapes scrapes as fast as possible | $fast/s |
| RSS after 1/10 / after all / max (kB) | $rss_first / $rss_last / $rss_max |

BENCH scrape_instr_ref=$i_ref
BENCH scrape_instr_plain=$i_plain
BENCH scrape_instr_json=$i_json
BENCH scrape_instr_prometheus=$i_prom
BENCH scrape_instr_prometheus_ratio=$(ratio "$i_prom" "$i_ref")
BENCH scrape_wall_us_ref=$w_ref
BENCH scrape_wall_us_prometheus=$w_prom
BENCH scrape_wall_prometheus_ratio=$(ratio "$w_prom" "$w_ref")
BENCH svmetrics_cpu_ms_per_scrape=$cpu_ms
BENCH svmetrics_rss_kb_before=$rss0
BENCH svmetrics_rss_kb_after_rate=$rss1
BENCH svmetrics_rss_kb_first_tenth=$rss_first
BENCH svmetrics_rss_kb_last=$rss_last
BENCH svmetrics_rss_kb_max=$rss_max
EOF
