#!/bin/sh
# Benchmark: the cost of rotations, ours against Debian's daemontools 0.76,
# on a real disk (a rotation fsyncs; on tmpfs that costs nothing).
#
#   bench/multilog_rotation.sh [REPS]      default 5 repetitions
#
# For `t s100000` (close to 0.76's default s99999) on 20 MB of mail lines
# and `t s4096` on 2 MB, multilog is fed through a pipe (`cat file |`),
# ours and the reference alternating; prints median wall-clock times with
# their range, the speed ratio, and the fsync(2)/fdatasync(2) calls and
# rotations of one more run of each under strace. Log directories go to
# $BENCH_DISK_DIR (default /var/tmp, which must not be a tmpfs).
set -eu
REPS=${1:-5}
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin multilog
OURS=$(pwd)/target/release/multilog
REF=/usr/bin/multilog
[ -x "$REF" ] || { echo "reference $REF missing" >&2; exit 1; }
command -v strace >/dev/null || { echo "strace missing" >&2; exit 1; }
DISK=${BENCH_DISK_DIR:-/var/tmp}
case "$(stat -f -c %T "$DISK")" in
  tmpfs|ramfs) echo "$DISK is a $(stat -f -c %T "$DISK"); set BENCH_DISK_DIR to a disk" >&2; exit 1 ;;
esac
W=$(mktemp -d "$DISK/dtrs-rot.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM

python3 bench/gen_logs.py plain mail 20 "$W/big.log"
head -c 2000000 "$W/big.log" | sed '$d' > "$W/small.log"

now() { date +%s%N; }
run() { # run PROG INPUT SIZE DIR
  rm -rf "$4"
  cat "$2" | "$1" t "$3" n100000 "$4"
}
: > "$W/times"
for rep in $(seq "$REPS"); do
  echo "repetition $rep/$REPS ..." >&2
  for cfg in s100000:big s4096:small; do
    size=${cfg%%:*} input=$W/${cfg#*:}.log
    pair="ours:$OURS ref:$REF"
    [ $((rep % 2)) = 0 ] && pair="ref:$REF ours:$OURS"
    for p in $pair; do
      name=${p%%:*} prog=${p#*:}
      sync
      t0=$(now); run "$prog" "$input" "$size" "$W/d"; t1=$(now)
      echo "$size-$name $(( (t1 - t0) / 1000 ))" >> "$W/times"
      lines=$(cat "$W/d"/@* "$W/d/current" | wc -l)
      [ "$lines" = "$(wc -l < "$input")" ] || { echo "$name $size: $lines lines" >&2; exit 1; }
    done
  done
done

. bench/times.sh
syncs() { # syncs PROG INPUT SIZE: "fsync calls, rotations"
  rm -rf "$W/d"
  cat "$2" | strace -f -c -o "$W/strace" -e trace=fsync,fdatasync "$1" t "$3" n100000 "$W/d"
  n=$(awk '$NF == "fsync" || $NF == "fdatasync" {s += $4} END {print s + 0}' "$W/strace")
  echo "$n $(ls "$W/d" | grep -c '^@')"
}

echo
echo "| script | input | ours (s) | daemontools (s) | speed-up | fsyncs ours / daemontools | rotations |"
echo "|---|---|---|---|---|---|---|"
for cfg in s100000:big s4096:small; do
  size=${cfg%%:*} input=$W/${cfg#*:}.log
  set -- $(syncs "$OURS" "$input" "$size"); fo=$1 rot=$2
  set -- $(syncs "$REF" "$input" "$size"); fr=$1
  echo "| \`t $size n100000\` | $(wc -c < "$input") bytes, $(wc -l < "$input") lines, from a pipe | $(spread "$size-ours") | $(spread "$size-ref") | $(ratios "$size-ref" "$size-ours") | $fo / $fr | $rot |"
done
echo
echo "medians of $REPS alternating runs (in brackets: lowest–highest; for the speed-up the"
echo "worst and best pairing); log directories in $DISK ($(stat -f -c %T "$DISK")); fsyncs"
echo "counted by strace -f in one more run of each"
