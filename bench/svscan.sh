#!/bin/bash
# Side-by-side benchmark of our svscan against Debian's daemontools 0.76
# svscan (the reference, /usr/bin), in one run, each with its own supervise
# (ours: PATH=$ours:...; reference: PATH=$ref:...). Trees run one after the
# other (ours first), so neither disturbs the other's figures:
#   1. link -> svok latency: a service directory (with a `down` file) is
#      symlinked into a running tree and `svok` is polled until it succeeds;
#      median/max over --links links, a random 0-1 s pause between links so
#      the reference's 5 s scan phase is sampled evenly. Target: < 50 ms
#      (the reference: up to 5 s, about 2.5 s on average);
#   2. time until N services are all up: N service directories, each with a
#      `down` file (so supervise runs but no service process), exist before
#      svscan starts; time from svscan's start until `svstat` reports every
#      one as supervised (`down`); median of --rounds (default 3) rounds,
#      ours and the reference interleaved;
#   3. idle CPU of the whole tree (svscan + N supervise) over --idle-seconds
#      (default 60), in the first round: utime+stime from /proc/PID/stat, ms;
#   4. supervision memory per service: PSS (and USS = private pages) of
#      svscan + all supervise processes from /proc/PID/smaps_rollup, / N.
#
# Usage: bench/svscan.sh [--ours DIR] [--ref DIR] [--services N] [--links N]
#                        [--idle-seconds S] [--rounds R]
#   --ours DIR   directory with our binaries (default: target/release, built)
#   --ref DIR    directory with the reference binaries (default: /usr/bin)
# `--ours /usr/bin` is the sanity check (ratios about 1.0, latency too).
# Every process is ended by PID (svscan first, then each supervise); the
# temp directory is removed. Output: a markdown table, then `BENCH` lines.
set -eu
cd "$(dirname "$0")/.."
ours=target/release
ref=/usr/bin
n=1000
links=10
idle=60
rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --ours) ours=$2; shift 2 ;;
    --ref) ref=$2; shift 2 ;;
    --services) n=$2; shift 2 ;;
    --links) links=$2; shift 2 ;;
    --idle-seconds) idle=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "usage: $0 [--ours DIR] [--ref DIR] [--services N] [--links N] [--idle-seconds S] [--rounds R]" >&2; exit 100 ;;
  esac
done
if [ "$ours" = target/release ]; then cargo build --release -q; fi
ours=$(cd "$ours" && pwd)
for b in svscan supervise svok svstat; do
  [ -x "$ref/$b" ] || { echo "reference $ref/$b missing (apt-get install daemontools)" >&2; exit 111; }
  [ -x "$ours/$b" ] || { echo "$ours/$b missing" >&2; exit 111; }
done
if [ "$n" -gt 1000 ]; then
  echo "note: daemontools 0.76 svscan supervises at most 1000 services" >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/svscan-bench.XXXXXX")
scan_pid=

. bench/lib.sh  # members

# Ends the running tree: svscan, then every supervise, then anything else.
stop_tree() {
  [ -n "$scan_pid" ] || return 0
  local pgid=$scan_pid p i
  kill -9 "$scan_pid" 2>/dev/null || true
  wait "$scan_pid" 2>/dev/null || true
  for i in $(seq 50); do
    local sup rest
    sup=$(members "$pgid" supervise)
    for p in $sup; do kill -9 "$p" 2>/dev/null || true; done
    rest=$(members "$pgid" '!supervise')
    for p in $rest; do kill -9 "$p" 2>/dev/null || true; done
    [ -z "$sup$rest" ] && break
    sleep 0.1
  done
  scan_pid=
}
cleanup() {
  stop_tree
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts `BIN/svscan DIR` in its own process group, PATH with BIN first.
start_tree() { # bindir dir
  (cd "$2" && exec setsid env PATH="$1:/usr/bin:/bin" "$1/svscan" "$2" </dev/null >"$work/svscan.out" 2>&1) &
  scan_pid=$!
  # setsid execs in place (the subshell is no group leader): same pid
  for _ in $(seq 100); do
    [ "$(cat "/proc/$scan_pid/comm" 2>/dev/null)" = svscan ] && break
    sleep 0.01
  done
}

make_service() { # dir
  mkdir -p "$1"
  printf '#!/bin/sh\nexec sleep 100000\n' > "$1/run"
  chmod 755 "$1/run"
  : > "$1/down"
}

now_us() { echo "${EPOCHREALTIME/./}"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else if (a / b < 0.1) printf "%.2g", a / b; else printf "%.2f", a / b }'; }

# Polls `svok DIR` until it succeeds; fails after 60 s.
wait_svok() { # dir
  local end=$(( ${EPOCHREALTIME%.*} + 60 ))
  until "$ref/svok" "$1" 2>/dev/null; do
    if [ "${EPOCHREALTIME%.*}" -ge "$end" ]; then
      echo "svok $1: no supervise after 60 s" >&2
      return 1
    fi
  done
}

# --- 1. link -> svok latency --------------------------------------------------
# Sets LAT_MED and LAT_MAX (ms).
latency() { # label bindir
  local d="$work/$1-latency" i t0 t1 all=()
  mkdir -p "$d/service"
  make_service "$d/service/first"
  start_tree "$2" "$d/service"
  wait_svok "$d/service/first"
  for i in $(seq "$links"); do
    make_service "$d/elsewhere/s$i"
    sleep "0.$(printf '%03d' $((RANDOM % 1000)))"
    t0=$(now_us)
    ln -s "$d/elsewhere/s$i" "$d/service/s$i"
    wait_svok "$d/service/s$i"
    t1=$(now_us)
    all+=($(( (t1 - t0) / 1000 )))
  done
  stop_tree
  LAT_MED=$(printf '%s\n' "${all[@]}" | median)
  LAT_MAX=$(printf '%s\n' "${all[@]}" | sort -n | tail -1)
}

# --- 2-4. N services: start-up time, idle CPU, memory -----------------------
tree_ticks() { # pids... -> utime+stime sum (clock ticks)
  local p s=0 f
  for p in "$@"; do
    f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    f=${f##*) }
    # shellcheck disable=SC2086
    set -- $f
    # $1 is field 3 (state): utime (14) and stime (15) are $12 and $13
    s=$((s + ${12} + ${13}))
  done
  echo "$s"
}
smaps_sum() { # field-regex pids... -> kB
  local re=$1 p
  shift
  for p in "$@"; do
    awk -v re="$re" '$1 ~ re { s += $2 } END { print s + 0 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0
  done | awk '{ s += $1 } END { print s + 0 }'
}

# N service directories with down files under $1, names in NAMES.
make_many() { # dir
  local i
  NAMES=()
  for i in $(seq -w 1 "$n"); do NAMES+=("s$i"); done
  mkdir -p "$1"
  (cd "$1" && mkdir "${NAMES[@]}")
  for i in "${NAMES[@]}"; do
    printf '#!/bin/sh\nexec sleep 100000\n' > "$1/$i/run"
    : > "$1/$i/down"
  done
  (cd "$1" && chmod 755 "${NAMES[@]/%//run}")
}

# Starts a tree of N services and sets UP: ms from svscan's start until
# svstat reports every service as supervised. The tree keeps running.
bring_up() { # label bindir round
  local d="$work/$1-many-$3/service" t0 t1 up
  make_many "$d"
  t0=$(now_us)
  start_tree "$2" "$d"
  while :; do
    up=$(cd "$d" && "$ref/svstat" "${NAMES[@]}" 2>/dev/null | grep -c ': down ' || true)
    [ "$up" -ge "$n" ] && break
    t1=$(now_us)
    if [ $(( (t1 - t0) / 1000000 )) -gt 120 ]; then
      echo "$1: only $up of $n services supervised after 120 s" >&2
      break
    fi
    sleep 0.02
  done
  t1=$(now_us)
  UP=$(( (t1 - t0) / 1000 ))
}

# On a running tree: sets CPU (ms over the idle window), PSS and USS (kB
# per service), SPSS (svscan's own PSS, kB), NSUP; then ends the tree.
measure_idle() {
  local sups hz c0 c1 pss uss
  sleep 3 # let everything settle (supervise's post-start sleep, first scans)
  sups=$(members "$scan_pid" supervise)
  NSUP=$(echo $sups | wc -w)
  hz=$(getconf CLK_TCK)
  # shellcheck disable=SC2086
  c0=$(tree_ticks "$scan_pid" $sups)
  sleep "$idle"
  # shellcheck disable=SC2086
  c1=$(tree_ticks "$scan_pid" $sups)
  CPU=$(( (c1 - c0) * 1000 / hz ))
  # shellcheck disable=SC2086
  pss=$(smaps_sum '^Pss:$' "$scan_pid" $sups)
  # shellcheck disable=SC2086
  uss=$(smaps_sum '^Private_(Clean|Dirty):$' "$scan_pid" $sups)
  SPSS=$(smaps_sum '^Pss:$' "$scan_pid")
  PSS=$(awk -v a="$pss" -v n="$n" 'BEGIN { printf "%.1f", a / n }')
  USS=$(awk -v a="$uss" -v n="$n" 'BEGIN { printf "%.1f", a / n }')
  stop_tree
}

echo "running: link latency, ours" >&2
latency ours "$ours"; lat_o_med=$LAT_MED; lat_o_max=$LAT_MAX
echo "running: link latency, reference" >&2
latency ref "$ref"; lat_r_med=$LAT_MED; lat_r_max=$LAT_MAX
up_o_all=(); up_r_all=()
# One side's round: bring the tree up, measure idle CPU and memory in round
# 1, end the tree and let the machine settle (the kernel is still freeing
# the last tree's 1000 processes for a while, which would slow whoever goes
# next; the order also alternates between rounds).
one_round() { # ours|ref round
  local bindir=$ours
  [ "$1" = ref ] && bindir=$ref
  echo "running: $n services up, round $2, $1" >&2
  bring_up "$1" "$bindir" "$2"
  if [ "$1" = ours ]; then up_o_all+=("$UP"); else up_r_all+=("$UP"); fi
  if [ "$2" = 1 ]; then
    echo "running: idle ${idle} s, $1" >&2
    measure_idle
    if [ "$1" = ours ]; then
      cpu_o=$CPU; pss_o=$PSS; uss_o=$USS; spss_o=$SPSS; nsup_o=$NSUP
    else
      cpu_r=$CPU; pss_r=$PSS; uss_r=$USS; spss_r=$SPSS; nsup_r=$NSUP
    fi
  else
    stop_tree
  fi
  sleep 2
}
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then one_round ours "$r"; one_round ref "$r"
  else one_round ref "$r"; one_round ours "$r"; fi
  rm -rf "$work/ours-many-$r" "$work/ref-many-$r"
done
up_o=$(printf '%s\n' "${up_o_all[@]}" | median)
up_r=$(printf '%s\n' "${up_r_all[@]}" | median)

echo "## svscan vs daemontools 0.76 ($(date -u +%Y-%m-%d), $(nproc) cores, $n services with down files, $links links, idle ${idle} s)"
echo
echo "| figure | ours | daemontools | ratio (ours/ref) |"
echo "|---|---|---|---|"
echo "| link -> svok latency, median (ms) | $lat_o_med | $lat_r_med | $(ratio "$lat_o_med" "$lat_r_med") |"
echo "| link -> svok latency, max (ms) | $lat_o_max | $lat_r_max | $(ratio "$lat_o_max" "$lat_r_max") |"
echo "| time until $n services supervised, median of $rounds (ms) | $up_o | $up_r | $(ratio "$up_o" "$up_r") |"
echo "| idle CPU of the tree over ${idle} s (ms) | $cpu_o | $cpu_r | $(ratio "$cpu_o" "$cpu_r") |"
echo "| PSS per service, svscan + supervise (kB) | $pss_o | $pss_r | $(ratio "$pss_o" "$pss_r") |"
echo "| USS per service, svscan + supervise (kB) | $uss_o | $uss_r | $(ratio "$uss_o" "$uss_r") |"
echo "| svscan's own PSS (kB) | $spss_o | $spss_r | $(ratio "$spss_o" "$spss_r") |"
echo "| supervise processes measured | $nsup_o | $nsup_r | |"
echo
echo "BENCH svscan_link_latency_median_ms ours=$lat_o_med ref=$lat_r_med ratio=$(ratio "$lat_o_med" "$lat_r_med")"
echo "BENCH svscan_link_latency_max_ms ours=$lat_o_max ref=$lat_r_max ratio=$(ratio "$lat_o_max" "$lat_r_max")"
echo "BENCH svscan_startup_${n}_ms ours=$up_o ref=$up_r ratio=$(ratio "$up_o" "$up_r")"
echo "BENCH svscan_idle_cpu_${idle}s_ms ours=$cpu_o ref=$cpu_r ratio=$(ratio "$cpu_o" "$cpu_r")"
echo "BENCH svscan_pss_per_service_kb ours=$pss_o ref=$pss_r ratio=$(ratio "$pss_o" "$pss_r")"
echo "BENCH svscan_uss_per_service_kb ours=$uss_o ref=$uss_r ratio=$(ratio "$uss_o" "$uss_r")"
