#!/bin/sh
# Per-call cost of the process-state tools (envdir, envuidgid, setuidgid,
# softlimit, setlock, fghack, pgrphack), ours vs the reference, side by
# side in the same run.
#
# Two figures per tool:
#   - user-space instructions of one call, from valgrind's callgrind
#     (deterministic). Callgrind stops counting at a successful exec, so the
#     tool is pointed at `./nonexistent`: start-up, all of the tool's work,
#     one failed execve and the fatal message (identical work on both
#     sides). fghack is measured running /bin/true (its own process only);
#   - wall time per call running /bin/true (hyperfine, else a shell loop),
#     best of 5 alternating rounds per side.
#
# Usage: bench/tools.sh [--ours DIR] [--ref DIR] [--runs N]
#   --ours DIR  our binaries (default: target/release, built first)
#   --ref DIR   reference binaries (default: /usr/bin)
# `--ours /usr/bin` is the sanity check: every ratio is then about 1.00.
# Output: a markdown table, then one `BENCH name=value` line per figure.
set -eu
cd "$(dirname "$0")/.."
ours=""
ref=/usr/bin
runs=300
while [ $# -gt 0 ]; do
  case $1 in
    --ours) ours=$2; shift 2 ;;
    --ref) ref=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: bench/tools.sh [--ours DIR] [--ref DIR] [--runs N]" >&2; exit 100 ;;
  esac
done
if [ -z "$ours" ]; then
  cargo build --release -q
  ours=$PWD/target/release
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/env"
for v in HOME USER LOGNAME SHELL TZ; do echo "value of $v" >"$work/env/$v"; done
cd "$work"

instr() { # binary args... -> instructions (0 without valgrind)
  if command -v valgrind >/dev/null 2>&1; then
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
      awk '/Collected :/ { n = $4 } END { print n + 0 }'
  else
    echo 0
  fi
}

wall1() { # binary args... -> mean microseconds per call over one round
  if command -v hyperfine >/dev/null 2>&1; then
    hyperfine -N -w 5 -r "$round" --export-json h.json "$*" >/dev/null 2>&1
    awk -F: '/"mean"/ { gsub(/[ ,]/, "", $2); printf "%.1f\n", $2 * 1e6; exit }' h.json
  else
    start=$(date +%s%N)
    i=0
    while [ $i -lt "$round" ]; do "$@" >/dev/null 2>&1 || :; i=$((i + 1)); done
    end=$(date +%s%N)
    echo "$(( (end - start) / round / 1000 ))"
  fi
}

# Wall time is noisy on a shared machine: ours and the reference alternate
# in 5 rounds and each side's best round counts.
walls() { # "ours args" "ref args" -> "ours_us ref_us"
  round=$((runs / 5))
  bo="" br=""
  for _ in 1 2 3 4 5; do
    # shellcheck disable=SC2086
    o=$(wall1 $1)
    # shellcheck disable=SC2086
    r=$(wall1 $2)
    bo=$(awk -v a="$o" -v b="$bo" 'BEGIN { print (b == "" || a < b) ? a : b }')
    br=$(awk -v a="$r" -v b="$br" 'BEGIN { print (b == "" || a < b) ? a : b }')
  done
  echo "$bo $br"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

cases="envdir|env
envuidgid|daemon
softlimit|-m 100000000 -o 100 -t 1000
setlock|-n lockfile
pgrphack|"
if [ "$(id -u)" = 0 ]; then
  cases="$cases
setuidgid|daemon"
fi

echo "| tool | instructions ours | ref | ratio | wall us ours | ref | ratio |"
echo "|---|---|---|---|---|---|---|"
lines=""
emit() { # name iours iref wours wref
  echo "| $1 | $2 | $3 | $(ratio "$2" "$3") | $4 | $5 | $(ratio "$4" "$5") |"
  lines="$lines
BENCH ${1}_instructions_ratio=$(ratio "$2" "$3")
BENCH ${1}_wall_ratio=$(ratio "$4" "$5")"
}
echo "$cases" | {
  while IFS='|' read -r tool args; do
    # shellcheck disable=SC2086
    io=$(instr "$ours/$tool" $args ./nonexistent)
    # shellcheck disable=SC2086
    ir=$(instr "$ref/$tool" $args ./nonexistent)
    set -- $(walls "$ours/$tool $args /bin/true" "$ref/$tool $args /bin/true")
    emit "$tool" "$io" "$ir" "$1" "$2"
  done
  io=$(instr "$ours/fghack" /bin/true)
  ir=$(instr "$ref/fghack" /bin/true)
  set -- $(walls "$ours/fghack /bin/true" "$ref/fghack /bin/true")
  emit fghack "$io" "$ir" "$1" "$2"
  echo "$lines"
}
