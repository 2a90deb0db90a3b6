# Sourced by the shell benchmarks: statistics over "$W/times", a file of
# "NAME MICROSECONDS" lines, one per timed run.
median() { grep "^$1 " "$W/times" | cut -d' ' -f2 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
lowest() { grep "^$1 " "$W/times" | cut -d' ' -f2 | sort -n | head -1; }
highest() { grep "^$1 " "$W/times" | cut -d' ' -f2 | sort -n | tail -1; }
sec() { awk -v u="$1" 'BEGIN {printf "%.3f", u / 1000000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
# spread NAME: "median (lowest–highest)" in seconds
spread() { echo "$(sec "$(median "$1")") ($(sec "$(lowest "$1")")–$(sec "$(highest "$1")"))"; }
# ratios NUM DEN: the ratio of the medians, and its range over the runs
# (the worst and the best pairing of the two sets of times)
ratios() {
  echo "$(ratio "$(median "$1")" "$(median "$2")")x ($(ratio "$(lowest "$1")" "$(highest "$2")")–$(ratio "$(highest "$1")" "$(lowest "$2")"))"
}
