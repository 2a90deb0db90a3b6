#!/bin/bash
# A crash-looping service (./run exits at once) under three supervisors at
# the same time, for S seconds (default 60):
#   ref      Debian's daemontools supervise (the reference)
#   ours     our supervise, default settings (0.76's restart once a second,
#            plus supervise/status.json written at every transition)
#   backoff  our supervise with `backoff 60` (delays 1, 2, 4, ... 60 s)
# Figures per supervisor: starts (lines the service appended), CPU time of
# supervise plus everything it ran. CPU comes from a cgroup2 child per
# supervisor (cpu.stat usage_usec: microseconds, counts the dead service
# processes too); without a writable cgroup2 hierarchy it falls back to
# /proc/PID/stat (utime+stime+cutime+cstime, 10 ms ticks).
#
# Usage: bench/lifecycle.sh [--ours DIR] [--ref DIR] [--seconds S] [--rounds R]
#   --ours DIR   our binaries (default: target/release, built)
#   --ref DIR    the reference binaries (default: /usr/bin)
#   --rounds R   R rounds of S seconds (default 1), the start order rotated
#                each round; the figures are sums, the ratios medians of
#                the rounds' ratios (the machine is shared: one round can
#                be off by 30%)
# `--ours /usr/bin` is the sanity check (ours/ref about 1.0; the backoff
# row then runs the reference, which ignores the file).
# Output: a markdown table, then one `BENCH name=value` line per figure.
set -eu
cd "$(dirname "$0")/.."
ours=target/release
ref=/usr/bin
secs=60
rounds=1
while [ $# -gt 0 ]; do
  case "$1" in
    --ours) ours=$2; shift 2 ;;
    --ref) ref=$2; shift 2 ;;
    --seconds) secs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "usage: $0 [--ours DIR] [--ref DIR] [--seconds S] [--rounds R]" >&2; exit 100 ;;
  esac
done
if [ "$ours" = target/release ]; then cargo build --release -q; fi
ours=$(cd "$ours" && pwd)
[ -x "$ref/supervise" ] || { echo "reference $ref/supervise missing (apt-get install daemontools)" >&2; exit 111; }

work=$(mktemp -d)
cgroot=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo || true)
if [ -n "$cgroot" ]; then
  own=$(sed -n 's/^0:://p' /proc/self/cgroup)
  cgbase="$cgroot${own%/}/bench-lifecycle-$$"
  mkdir "$cgbase" 2>/dev/null || cgbase=""
else
  cgbase=""
fi
declare -A PID
stop_round() {
  for label in "${!PID[@]}"; do kill -9 "${PID[$label]}" 2>/dev/null || true; done
  PID=()
  if [ -n "$cgbase" ]; then
    for d in "$cgbase"/*/; do
      [ -d "$d" ] || continue
      echo 1 > "$d/cgroup.kill" 2>/dev/null || true
      for _ in $(seq 100); do rmdir "$d" 2>/dev/null && break; sleep 0.05; done
    done
  fi
  rm -rf "${work:?}"/*
}
cleanup() {
  stop_round
  if [ -n "$cgbase" ]; then rmdir "$cgbase" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

start() { # label bindir [backoff]
  local d="$work/$1/s"
  mkdir -p "$d"
  printf '#!/bin/sh\necho x >> starts\nexit 0\n' > "$d/run"
  chmod 755 "$d/run"
  if [ -n "${3:-}" ]; then echo "$3" > "$d/backoff"; fi
  if [ -n "$cgbase" ]; then
    mkdir "$cgbase/$1"
    (cd "$work/$1" && echo $BASHPID > "$cgbase/$1/cgroup.procs" &&
      exec "$2/supervise" s </dev/null >/dev/null 2>&1) &
  else
    (cd "$work/$1" && exec "$2/supervise" s </dev/null >/dev/null 2>&1) &
  fi
  PID[$1]=$!
  disown "$!" # no "Killed" notice from bash at the end
}

cpu_ms() { # label -> CPU milliseconds so far
  if [ -n "$cgbase" ]; then
    awk '$1 == "usage_usec" { printf "%.1f\n", $2 / 1000 }' "$cgbase/$1/cpu.stat"
  else
    local tck
    tck=$(getconf CLK_TCK)
    awk -v t="$tck" '{ sub(/.*\) /, ""); printf "%.1f\n", ($12 + $13 + $14 + $15) * 1000 / t }' "/proc/${PID[$1]}/stat"
  fi
}

starts() { wc -l < "$work/$1/s/starts" 2>/dev/null || echo 0; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
labels=(ref ours backoff)
declare -A C S
for label in "${labels[@]}"; do C[$label]=0; S[$label]=0; done
r_cpu="" r_starts="" r_backoff=""
for round in $(seq "$rounds"); do
  # rotate the start order from one round to the next
  shift_by=$(( (round - 1) % 3 ))
  order=("${labels[@]:$shift_by}" "${labels[@]:0:$shift_by}")
  for label in "${order[@]}"; do
    case $label in
      ref) start ref "$ref" ;;
      ours) start ours "$ours" ;;
      backoff) start backoff "$ours" 60 ;;
    esac
  done
  sleep "$secs"
  declare -A c s
  for label in "${labels[@]}"; do
    c[$label]=$(cpu_ms "$label")
    s[$label]=$(starts "$label")
    C[$label]=$(awk -v a="${C[$label]}" -v b="${c[$label]}" 'BEGIN { printf "%.1f", a + b }')
    S[$label]=$(( S[$label] + s[$label] ))
  done
  r_cpu="$r_cpu $(ratio "${c[ours]}" "${c[ref]}")"
  r_starts="$r_starts $(ratio "${s[ref]}" "${s[backoff]}")"
  r_backoff="$r_backoff $(ratio "${c[backoff]}" "${c[ours]}")"
  echo "round $round (${order[*]}): cpu ms ref=${c[ref]} ours=${c[ours]} backoff=${c[backoff]}; starts ref=${s[ref]} ours=${s[ours]} backoff=${s[backoff]}" >&2
  stop_round
done
med() { printf '%s\n' $1 | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
method=$([ -n "$cgbase" ] && echo "cgroup2 cpu.stat" || echo "/proc/PID/stat ticks")

echo "## crash-looping service, $rounds x $secs s ($(date -u +%Y-%m-%d), $(nproc) cores, CPU from $method)"
echo
echo "| supervisor | starts | CPU, supervise + service (ms) | CPU per start (ms) |"
echo "|---|---|---|---|"
for label in ref ours backoff; do
  name=$label
  case $label in
    ref) name="daemontools 0.76" ;;
    ours) name="ours, default" ;;
    backoff) name="ours, backoff 60" ;;
  esac
  echo "| $name | ${S[$label]} | ${C[$label]} | $(ratio "${C[$label]}" "${S[$label]}") |"
done
echo
echo "Medians of the rounds: ours/daemontools CPU $(med "$r_cpu"); daemontools/backoff starts $(med "$r_starts"); backoff/ours CPU $(med "$r_backoff")."
echo
echo "BENCH crashloop_cpu_ms ours=${C[ours]} ref=${C[ref]} ratio=$(med "$r_cpu")"
echo "BENCH crashloop_starts ours=${S[ours]} ref=${S[ref]} backoff=${S[backoff]} fewer=$(med "$r_starts")"
echo "BENCH crashloop_backoff_cpu_ms backoff=${C[backoff]} ours=${C[ours]} ratio=$(med "$r_backoff")"
