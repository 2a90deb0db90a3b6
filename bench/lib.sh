# Shell functions shared by the bash benchmarks (sourced: `. bench/lib.sh`
# from the top of the source tree).

# Live members of process group $1 whose comm is (or is not, with !) $2.
members() { # pgid [!]comm
  local f pid rest state pgrp c
  for f in /proc/[0-9]*/stat; do
    { read -r rest < "$f"; } 2>/dev/null || continue
    pid=${rest%% *}
    c=${rest#*(}; c=${c%)*}
    rest=${rest##*) }
    read -r state _ pgrp _ <<< "$rest"
    [ "$pgrp" = "$1" ] || continue
    [ "$state" = Z ] && continue
    case "$2" in
      !*) [ "$c" != "${2#!}" ] && echo "$pid" ;;
      *) [ "$c" = "$2" ] && echo "$pid" ;;
    esac
  done
  return 0
}
