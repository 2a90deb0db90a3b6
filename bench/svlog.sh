#!/bin/bash
# Benchmark: svlog on a large multilog directory against the shell ways of
# doing the same with daemontools' tai64nlocal (Debian's, /usr/bin) and
# ours, side by side, interleaved. Prints a markdown table of median
# wall-clock times and the peak memory of svlog, and checks that each pair
# prints the same lines.
#
#   bench/svlog.sh [MB] [REPS]     defaults: 1000 MB, 5 repetitions
#
# 1. the last 100 lines: `svlog -n 100 DIR` vs
#    `cat DIR/@* DIR/current | tai64nlocal | tail -100`;
# 2. a window near the end: `svlog --since T DIR` vs a full scan,
#    `cat DIR/@* DIR/current | tai64nlocal | awk '$0 >= "T"'`, and
#    `svlog DIR` (everything) for scale.
# The directory (stamped lines 1 ms apart, 16 MB archives, a current of
# 8 MB, all uncompressed) goes to $BENCH_DIR (default /tmp) and is removed
# afterwards. The page cache is warm: the figures are about the programs.
set -eu
MB=${1:-1000}
REPS=${2:-5}
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin svlog --bin tai64nlocal
OURS=$(pwd)/target/release
REF=/usr/bin/tai64nlocal
[ -x "$REF" ] || { echo "reference $REF missing (apt-get install daemontools)" >&2; exit 1; }
BASE=${BENCH_DIR:-/tmp}
W=$(mktemp -d "$BASE/dtrs-svlog.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
export TZ=UTC

echo "generating a ${MB} MB log directory in $W ..." >&2
python3 bench/gen_logs.py plain mixed 20 "$W/body.txt"
read -r FIRST LAST < <(python3 bench/gen_logdir.py "$W/body.txt" "$MB" "$W/log")
cd "$W"
# --since: 60 s of lines before the last one (about 60,000 lines, 6 MB).
SINCE_UNIX=$((LAST - 60))
SINCE=$(date -u -d "@$SINCE_UNIX" '+%Y-%m-%d %H:%M:%S')
echo "$(ls log | wc -l) files, $(du -sm log | cut -f1) MB, lines from $FIRST to $LAST; --since '$SINCE'" >&2

now() { date +%s%N; }
# timed NAME CMD...: runs CMD (stdout to $W/out.NAME) and appends
# "NAME milliseconds" to $W/times.
timed() {
  name=$1; shift
  t0=$(now); "$@" > "$W/out.$name"; t1=$(now)
  echo "$name $(( (t1 - t0) / 1000000 ))" >> "$W/times"
}
tail_svlog() { "$OURS/svlog" -n 100 log; }
tail_shell() { cat log/@* log/current | "$1" | tail -100; }
since_svlog() { "$OURS/svlog" --since "$SINCE" log; }
since_shell() { cat log/@* log/current | "$1" | awk -v t="$SINCE" '$0 >= t'; }
all_svlog() { "$OURS/svlog" log; }

# Warm the page cache.
cat log/@* log/current > /dev/null
: > "$W/times"
for rep in $(seq "$REPS"); do
  echo "repetition $rep/$REPS ..." >&2
  timed tail-svlog tail_svlog
  timed tail-ref tail_shell "$REF"
  timed tail-ours tail_shell "$OURS/tai64nlocal"
  timed since-svlog since_svlog
  timed since-ref since_shell "$REF"
  timed since-ours since_shell "$OURS/tai64nlocal"
  timed all-svlog all_svlog
done
cmp out.tail-svlog out.tail-ref
cmp out.tail-svlog out.tail-ours
cmp out.since-svlog out.since-ref
cmp out.since-svlog out.since-ours
[ "$(wc -l < out.tail-svlog)" = 100 ]
SINCE_LINES=$(wc -l < out.since-svlog)
ALL_LINES=$(wc -l < out.all-svlog)
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
RSS_TAIL=$(rss "$OURS/svlog" -n 100 log)
RSS_SINCE=$(rss "$OURS/svlog" --since "$SINCE" log)
RSS_ALL=$(rss "$OURS/svlog" log)

median() { grep "^$1 " "$W/times" | cut -d' ' -f2 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == 0) a = 1; printf "%.0fx", b / a }'; }
T_SV=$(median tail-svlog); T_REF=$(median tail-ref); T_OURS=$(median tail-ours)
S_SV=$(median since-svlog); S_REF=$(median since-ref); S_OURS=$(median since-ours)
A_SV=$(median all-svlog)
echo
echo "| task ($(du -sm log | cut -f1) MB, $ALL_LINES lines, $(ls log | wc -l) files) | svlog (ms) | shell, daemontools tai64nlocal (ms) | speed-up | shell, our tai64nlocal (ms) | speed-up |"
echo "|---|---|---|---|---|---|"
echo "| last 100 lines: \`svlog -n 100\` vs \`cat @* current \\| tai64nlocal \\| tail -100\` | $T_SV | $T_REF | $(ratio "$T_SV" "$T_REF") | $T_OURS | $(ratio "$T_SV" "$T_OURS") |"
echo "| last 60 s ($SINCE_LINES lines): \`svlog --since\` vs \`cat @* current \\| tai64nlocal \\| awk\` | $S_SV | $S_REF | $(ratio "$S_SV" "$S_REF") | $S_OURS | $(ratio "$S_SV" "$S_OURS") |"
echo "| everything: \`svlog DIR\` (full scan, for scale) | $A_SV | | | | |"
echo
echo "Peak RSS of svlog: -n 100 ${RSS_TAIL} kB, --since ${RSS_SINCE} kB, everything ${RSS_ALL} kB (medians of $REPS runs, TZ=UTC, $(date -u +%Y-%m-%d))."
