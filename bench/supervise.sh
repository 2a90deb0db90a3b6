#!/bin/bash
# Side-by-side benchmark of our supervise/svc/svstat/svok against Debian's
# daemontools (the reference, /usr/bin), in one run:
#   - private memory per supervise process (USS = Private_Clean +
#     Private_Dirty from /proc/PID/smaps_rollup; also PSS), N services each;
#   - per-call cost of svc, svstat, svok: instructions counted by
#     valgrind/callgrind (deterministic, unaffected by machine noise), and
#     wall time per call over many runs (hyperfine when installed).
#
# Usage: bench/supervise.sh [--ours DIR] [--ref DIR] [--services N] [--runs N]
#   --ours DIR   directory with our binaries (default: target/release, built)
#   --ref DIR    directory with the reference binaries (default: /usr/bin)
# Pointing --ours at /usr/bin must give ratios of about 1.0 (sanity check).
# Output: a markdown table, then one `BENCH name=value` line per figure.
set -eu
cd "$(dirname "$0")/.."
ours=target/release
ref=/usr/bin
n=20
runs=300
while [ $# -gt 0 ]; do
  case "$1" in
    --ours) ours=$2; shift 2 ;;
    --ref) ref=$2; shift 2 ;;
    --services) n=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: $0 [--ours DIR] [--ref DIR] [--services N] [--runs N]" >&2; exit 100 ;;
  esac
done
if [ "$ours" = target/release ]; then cargo build --release -q; fi
ours=$(cd "$ours" && pwd)
for b in supervise svc svstat svok; do
  [ -x "$ref/$b" ] || { echo "reference $ref/$b missing (apt-get install daemontools)" >&2; exit 111; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  # supervise first (so nothing restarts), then the services it recorded
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  for st in "$work"/*/*/supervise/status; do
    [ -f "$st" ] || continue
    p=$(od -An -t u4 -j 12 -N 4 "$st" | tr -d ' ')
    if [ "${p:-0}" != 0 ]; then kill -9 "$p" 2>/dev/null || true; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }

# --- memory per supervise -------------------------------------------------
# Both sets run at the same time, so shared pages are shared equally.
start_tree() { # label bindir
  mkdir -p "$work/$1"
  for i in $(seq "$n"); do
    d="$work/$1/s$i"
    mkdir -p "$d"
    printf '#!/bin/sh\nexec sleep 100000\n' > "$d/run"
    chmod 755 "$d/run"
    (cd "$work/$1" && exec "$2/supervise" "s$i" </dev/null >/dev/null 2>&1) &
    pids+=($!)
    echo $! >> "$work/$1.pids"
  done
}
start_tree ours "$ours"
start_tree ref "$ref"
# wait until every service is up
for label in ours ref; do
  for i in $(seq "$n"); do
    for _ in $(seq 200); do
      [ -s "$work/$label/s$i/supervise/status" ] && "$ref/svok" "$work/$label/s$i" && break
      sleep 0.05
    done
  done
done
sleep 2 # past the post-start sleep: the event loop is idle
mem() { # label field-regex
  while read -r p; do
    awk -v re="$2" '$1 ~ re { s += $2 } END { print s }' "/proc/$p/smaps_rollup"
  done < "$work/$1.pids" | median
}
uss_ours=$(mem ours '^Private_(Clean|Dirty):$')
uss_ref=$(mem ref '^Private_(Clean|Dirty):$')
pss_ours=$(mem ours '^Pss:$')
pss_ref=$(mem ref '^Pss:$')
rss_ours=$(mem ours '^Rss:$')
rss_ref=$(mem ref '^Rss:$')

# --- per-call cost ----------------------------------------------------------
svcdir="$work/ours/s1"
instr() { # binary args...
  if command -v valgrind >/dev/null 2>&1; then
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
      awk '/Collected :/ { print $4 }'
  else
    echo 0
  fi
}
wall() { # binary args... -> microseconds per call
  if command -v hyperfine >/dev/null 2>&1; then
    hyperfine -N -w 20 -r "$runs" --export-json "$work/h.json" "$*" >/dev/null 2>&1
    python3 -c "import json;print(round(json.load(open('$work/h.json'))['results'][0]['median']*1e6,1))"
  else
    local t0 t1
    t0=$(date +%s%N)
    for _ in $(seq "$runs"); do "$@" >/dev/null 2>&1; done
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / runs / 1000 ))
  fi
}
declare -A I W
for prog in svok svstat svc; do
  case $prog in
    svc) args=(-a "$svcdir") ;;
    *) args=("$svcdir") ;;
  esac
  I[ours_$prog]=$(instr "$ours/$prog" "${args[@]}")
  I[ref_$prog]=$(instr "$ref/$prog" "${args[@]}")
  # interleave wall-time runs: ours, ref, ours, ref; keep the medians
  a1=$(wall "$ours/$prog" "${args[@]}"); b1=$(wall "$ref/$prog" "${args[@]}")
  a2=$(wall "$ours/$prog" "${args[@]}"); b2=$(wall "$ref/$prog" "${args[@]}")
  W[ours_$prog]=$(printf '%s\n%s\n' "$a1" "$a2" | median)
  W[ref_$prog]=$(printf '%s\n%s\n' "$b1" "$b2" | median)
done

# --- report -----------------------------------------------------------------
echo "## supervise, svc, svstat, svok vs daemontools 0.76 ($(date -u +%Y-%m-%d), $(nproc) cores, $n services each)"
echo
echo "| figure | ours | daemontools | ratio (ours/ref) |"
echo "|---|---|---|---|"
echo "| supervise USS per process (kB) | $uss_ours | $uss_ref | $(ratio "$uss_ours" "$uss_ref") |"
echo "| supervise PSS per process (kB) | $pss_ours | $pss_ref | $(ratio "$pss_ours" "$pss_ref") |"
echo "| supervise RSS per process (kB) | $rss_ours | $rss_ref | $(ratio "$rss_ours" "$rss_ref") |"
for prog in svc svstat svok; do
  echo "| $prog instructions per call | ${I[ours_$prog]} | ${I[ref_$prog]} | $(ratio "${I[ours_$prog]}" "${I[ref_$prog]}") |"
  echo "| $prog wall time per call (us) | ${W[ours_$prog]} | ${W[ref_$prog]} | $(ratio "${W[ours_$prog]}" "${W[ref_$prog]}") |"
done
echo
echo "BENCH supervise_uss_kb ours=$uss_ours ref=$uss_ref ratio=$(ratio "$uss_ours" "$uss_ref")"
echo "BENCH supervise_pss_kb ours=$pss_ours ref=$pss_ref ratio=$(ratio "$pss_ours" "$pss_ref")"
for prog in svc svstat svok; do
  echo "BENCH ${prog}_instructions ours=${I[ours_$prog]} ref=${I[ref_$prog]} ratio=$(ratio "${I[ours_$prog]}" "${I[ref_$prog]}")"
  echo "BENCH ${prog}_wall_us ours=${W[ours_$prog]} ref=${W[ref_$prog]} ratio=$(ratio "${W[ours_$prog]}" "${W[ref_$prog]}")"
done
