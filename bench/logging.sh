#!/bin/sh
# Benchmark: multilog, tai64n and tai64nlocal against Debian's daemontools
# (and `cat > file`), side by side, interleaved, on ~200 MB of realistic
# log lines. Prints a markdown table of median wall-clock times (with the
# range over the repetitions) and ratios, and checks line counts / outputs
# of every run. multilog is timed twice: reading a file, and fed through a
# pipe by cat(1), the way a supervised service feeds it (`cat | cat > file`
# is then the yardstick).
#
#   bench/logging.sh [MB] [REPS]      defaults: 200 MB, 5 repetitions
#
# Work files go to $BENCH_DIR (default /dev/shm, a tmpfs: the figures are
# about the programs, not the disk). Needs python3 for the generator and
# the reference programs in /usr/bin.
set -eu
MB=${1:-200}
REPS=${2:-5}
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin multilog --bin tai64n --bin tai64nlocal
OURS=$(pwd)/target/release
REF=/usr/bin
for p in multilog tai64n tai64nlocal; do
  [ -x "$REF/$p" ] || { echo "reference $REF/$p missing" >&2; exit 1; }
done
BASE=${BENCH_DIR:-/dev/shm}
W=$(mktemp -d "$BASE/dtrs-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM

echo "generating ${MB} MB inputs in $W ..." >&2
python3 bench/gen_logs.py plain mail "$MB" "$W/mail.log"
python3 bench/gen_logs.py plain mixed "$MB" "$W/mixed.log"
python3 bench/gen_logs.py stamped mixed "$MB" "$W/stamped.log"

# The ten `-` patterns of the qmail log/run in seed 001.
set -- \
  '-* status: *' '-* starting delivery *' '-* delivery * success*' \
  '-* delivery * failure*' '-* new msg *' '-* info msg *' '-* end msg *' \
  '-* bounce msg *' \
  "-* delivery * deferral: Sorry,_I_couldn't_find_any_host_by_that_name*" \
  "-* delivery * deferral: Sorry,_I_wasn't_able_to_establish_an_SMTP_*"

now() { date +%s%N; }
# timed NAME CMD...: runs CMD and appends "NAME microseconds" to $W/times.
timed() {
  name=$1; shift
  t0=$(now); "$@"; t1=$(now)
  echo "$name $(( (t1 - t0) / 1000 ))" >> "$W/times"
}
ml_run() { # ml_run IMPL INPUT DIR PATTERN...
  impl=$1 input=$2 dir=$3; shift 3
  rm -rf "$dir"
  "$impl/multilog" t "$@" s1048576 n1000 "$dir" < "$input"
}
ml_pipe() { # ml_pipe IMPL INPUT DIR PATTERN...: the same, fed through a pipe
  impl=$1 input=$2 dir=$3; shift 3
  rm -rf "$dir"
  cat "$input" | "$impl/multilog" t "$@" s1048576 n1000 "$dir"
}
lines_in() { cat "$1"/@* "$1"/current | wc -l; }
stripped_sum() { cat "$1"/@* "$1"/current | cut -c27- | md5sum | cut -d' ' -f1; }

: > "$W/times"
for rep in $(seq "$REPS"); do
  echo "repetition $rep/$REPS ..." >&2
  for mix in mail mixed; do
    for feed in file pipe; do
      run=ml_run; catcmd="cat '$W/$mix.log' > '$W/cat.out'"
      [ "$feed" = pipe ] && { run=ml_pipe; catcmd="cat '$W/$mix.log' | cat > '$W/cat.out'"; }
      timed "multilog-$mix-$feed-ours" $run "$OURS" "$W/$mix.log" "$W/d-ours" "$@"
      timed "multilog-$mix-$feed-ref" $run "$REF" "$W/$mix.log" "$W/d-ref" "$@"
      timed "cat-$mix-$feed" sh -c "$catcmd"
      a=$(lines_in "$W/d-ours"); b=$(lines_in "$W/d-ref")
      [ "$a" = "$b" ] && [ "$a" -gt 0 ] || { echo "multilog $mix ($feed): $a lines, reference $b" >&2; exit 1; }
      if [ "$rep" = 1 ]; then
        [ "$(stripped_sum "$W/d-ours")" = "$(stripped_sum "$W/d-ref")" ] \
          || { echo "multilog $mix ($feed): contents differ from the reference" >&2; exit 1; }
        echo "multilog $mix ($feed): $a of $(wc -l < "$W/$mix.log") lines kept, same as the reference" >&2
      fi
      rm -rf "$W/d-ours" "$W/d-ref" "$W/cat.out"
    done
  done
  timed tai64n-ours sh -c "'$OURS/tai64n' < '$W/mixed.log' > '$W/o-ours'"
  timed tai64n-ref sh -c "'$REF/tai64n' < '$W/mixed.log' > '$W/o-ref'"
  [ "$(wc -l < "$W/o-ours")" = "$(wc -l < "$W/mixed.log")" ] || { echo "tai64n: line count" >&2; exit 1; }
  [ "$(cut -c27- "$W/o-ours" | md5sum)" = "$(md5sum < "$W/mixed.log")" ] || { echo "tai64n: text changed" >&2; exit 1; }
  timed tai64nlocal-ours sh -c "TZ=Europe/Amsterdam '$OURS/tai64nlocal' < '$W/stamped.log' > '$W/o-ours'"
  timed tai64nlocal-ref sh -c "TZ=Europe/Amsterdam '$REF/tai64nlocal' < '$W/stamped.log' > '$W/o-ref'"
  cmp -s "$W/o-ours" "$W/o-ref" || { echo "tai64nlocal: output differs from the reference" >&2; exit 1; }
  rm -f "$W/o-ours" "$W/o-ref"
done

. bench/times.sh

echo
echo "| program | input | fed from | ours (s) | daemontools (s) | speed-up | cat (s) | ours vs cat |"
echo "|---|---|---|---|---|---|---|---|"
for mix in mail mixed; do
  for feed in file pipe; do
    o="multilog-$mix-$feed-ours"; r="multilog-$mix-$feed-ref"; c="cat-$mix-$feed"
    how="a file (\`< file\`; cat: \`cat file > out\`)"
    [ "$feed" = pipe ] && how="a pipe (\`cat file |\`; cat: \`cat file | cat > out\`)"
    echo "| multilog t, 10 \`-\` patterns, s1048576 | $mix, $(wc -l < "$W/$mix.log") lines | $how | $(spread "$o") | $(spread "$r") | $(ratios "$r" "$o") | $(spread "$c") | $(ratios "$c" "$o") |"
  done
done
echo "| tai64n | mixed, $(wc -l < "$W/mixed.log") lines | a file | $(spread tai64n-ours) | $(spread tai64n-ref) | $(ratios tai64n-ref tai64n-ours) | | |"
echo "| tai64nlocal | stamped, $(wc -l < "$W/stamped.log") lines | a file | $(spread tai64nlocal-ours) | $(spread tai64nlocal-ref) | $(ratios tai64nlocal-ref tai64nlocal-ours) | | |"
echo
echo "medians of $REPS interleaved runs (in brackets: lowest–highest; for ratios the"
echo "worst and best pairing), ${MB} MB inputs, work files in $BASE"
