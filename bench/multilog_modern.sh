#!/bin/sh
# Benchmark: multilog's actions of issue 16 against Debian's daemontools
# multilog, side by side, interleaved, on realistic log lines fed through
# a pipe (as a supervised service feeds it):
#   - the 0.76 path (`t s1048576 n1000`), for its ratio;
#   - compression: ours `g` (gzip level 6, in a thread) against 0.76's
#     `!gzip` processor (gzip -6 in a child, blocking the pipe while it
#     runs). Two times each: until the writer has put all input into the
#     pipe ("fed": what a service waits), and until multilog exits (every
#     archive compressed). Checks: the same lines in both directories,
#     and every archive compressed;
#   - readable stamps: `Z` and `t Z L` against `t`.
#
#   bench/multilog_modern.sh [MB] [REPS]      defaults: 100 MB, 3 repetitions
#
# Work files go to $BENCH_DIR (default /dev/shm). Needs python3, gzip,
# and /usr/bin/multilog.
set -eu
MB=${1:-100}
REPS=${2:-3}
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin multilog
OURS=$(pwd)/target/release
REF=/usr/bin
[ -x "$REF/multilog" ] || { echo "reference $REF/multilog missing" >&2; exit 1; }
command -v gzip > /dev/null || { echo "gzip missing" >&2; exit 1; }
BASE=${BENCH_DIR:-/dev/shm}
W=$(mktemp -d "$BASE/dtrs-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM

echo "generating ${MB} MB input in $W ..." >&2
python3 bench/gen_logs.py plain mail "$MB" "$W/mail.log"
LINES=$(wc -l < "$W/mail.log")

now() { date +%s%N; }
# piped NAME IMPL ARGS...: `cat input | IMPL/multilog ARGS` in $W, timing
# both the end of the writer (NAME-fed) and of multilog (NAME-done).
piped() {
  name=$1 impl=$2; shift 2
  rm -rf "$W/d"
  t0=$(now)
  (cd "$W" && { cat mail.log; date +%s%N > fed; } | "$impl/multilog" "$@")
  t1=$(now)
  echo "$name-fed $(( ($(cat "$W/fed") - t0) / 1000 ))" >> "$W/times"
  echo "$name-done $(( (t1 - t0) / 1000 ))" >> "$W/times"
}
# The lines of the directory in order (every archive through gzip -dcf:
# ours are `.s.gz`, 0.76's `!gzip` archives are gzip data named `.s`).
lines_of() {
  for f in "$W"/d/@*; do gzip -dcf "$f"; done
  cat "$W/d/current"
}

: > "$W/times"
for rep in $(seq "$REPS"); do
  echo "repetition $rep/$REPS ..." >&2
  piped plain-ours "$OURS" t s1048576 n1000 ./d
  piped plain-ref "$REF" t s1048576 n1000 ./d
  piped gz-ours "$OURS" t s1048576 n1000 g ./d
  n=$(ls "$W/d" | grep -c '^@.*\.s\.gz$') ; p=$(ls "$W/d" | grep -c '^@.*\.s$' || true)
  [ "$p" = 0 ] && [ "$n" -gt 0 ] || { echo "g: $n compressed, $p plain archives" >&2; exit 1; }
  [ "$rep" = 1 ] && lines_of | cut -c27- | md5sum > "$W/sum-ours"
  piped gz-ref "$REF" t s1048576 n1000 '!gzip -6' ./d
  if [ "$rep" = 1 ]; then
    lines_of | cut -c27- | md5sum > "$W/sum-ref"
    cmp -s "$W/sum-ours" "$W/sum-ref" || { echo "compressed logs differ" >&2; exit 1; }
    [ "$(lines_of | wc -l)" = "$LINES" ] || { echo "lines lost" >&2; exit 1; }
    echo "g and !gzip: the same $LINES lines, $n archives" >&2
  fi
  piped z-ours "$OURS" Z s1048576 n1000 ./d
  piped tzl-ours "$OURS" t Z L s1048576 n1000 ./d
done

. bench/times.sh
mbps() { awk -v u="$(median "$1")" -v mb="$MB" 'BEGIN {printf "%.0f", mb / (u / 1000000)}'; }

echo
echo "| script | ours: fed (s) | ours: done (s) | daemontools: fed (s) | daemontools: done (s) | fed: ours faster | done: ours faster |"
echo "|---|---|---|---|---|---|---|"
echo "| \`t s1048576 n1000\` | $(spread plain-ours-fed) | $(spread plain-ours-done) | $(spread plain-ref-fed) | $(spread plain-ref-done) | $(ratios plain-ref-fed plain-ours-fed) | $(ratios plain-ref-done plain-ours-done) |"
echo "| ours \`... g\`, 0.76 \`... '!gzip -6'\` | $(spread gz-ours-fed) | $(spread gz-ours-done) | $(spread gz-ref-fed) | $(spread gz-ref-done) | $(ratios gz-ref-fed gz-ours-fed) | $(ratios gz-ref-done gz-ours-done) |"
echo
echo "| ours | done (s) | vs ours \`t\` | vs daemontools \`t\` |"
echo "|---|---|---|---|"
echo "| \`Z s1048576 n1000\` | $(spread z-ours-done) | $(ratios plain-ours-done z-ours-done) | $(ratios plain-ref-done z-ours-done) |"
echo "| \`t Z L s1048576 n1000\` | $(spread tzl-ours-done) | $(ratios plain-ours-done tzl-ours-done) | $(ratios plain-ref-done tzl-ours-done) |"
echo
echo "compression throughput (input MB / done): ours $(mbps gz-ours-done) MB/s,"
echo "daemontools with !gzip $(mbps gz-ref-done) MB/s; ratios > 1: ours faster."
echo "medians of $REPS interleaved runs (lowest–highest; ratios: worst and best"
echo "pairing), ${MB} MB, $LINES lines (mail), fed by cat through a pipe, files in $BASE"
