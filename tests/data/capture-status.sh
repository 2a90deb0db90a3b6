#!/bin/bash
# Captures status files written by the REFERENCE supervise (Debian's
# daemontools, /usr/bin) in every state, with the reference svstat's line
# for each, into tests/data/status/. Rerun to refresh:
#   bash tests/data/capture-status.sh
# Each state NAME gives NAME.status (the raw bytes) and NAME.txt:
#   line 1: "<normally_up 0|1> <unix time at which svstat ran>"
#   line 2: the reference svstat output for directory "svc"
set -eu
out=$(cd "$(dirname "$0")" && pwd)/status
ref=/usr/bin
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
  # stop the services (by the pid supervise recorded), then supervise
  for st in "$work"/*/supervise/status; do
    [ -f "$st" ] || continue
    p=$(od -An -t u4 -j 12 -N 4 "$st" | tr -d ' ')
    [ "$p" != 0 ] && kill -9 "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

mksvc() { # name body [down]
  mkdir -p "$work/$1"
  printf '#!/bin/sh\n%s\n' "$2" > "$work/$1/run"
  chmod 755 "$work/$1/run"
  if [ "${3:-}" = down ]; then touch "$work/$1/down"; fi
}
start() { # name
  (cd "$work" && exec "$ref/supervise" "$1") & pids+=($!)
  for _ in $(seq 100); do "$ref/svok" "$work/$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "supervise $1 did not start" >&2; exit 1
}
settle() { sleep 1.3; } # supervise's post-start sleep is 1 s; let commands apply
capture() { # state-name service-dir
  local d="$work/$2" nu=1
  [ -e "$d/down" ] && nu=0
  cp "$d/supervise/status" "$out/$1.status"
  local now line
  now=$(date +%s)
  line=$(cd "$work" && mv "$2" svc && "$ref/svstat" svc; mv svc "$2")
  printf '%s %s\n%s\n' "$nu" "$now" "$line" > "$out/$1.txt"
  echo "$1: $line"
}
svc() { "$ref/svc" "$@"; }

# up, normally up
mksvc up 'exec sleep 1000'; start up; settle; capture up up
# paused
svc -p "$work/up"; settle; capture up-paused up
svc -c "$work/up"
# down after svc -d (normally up)
svc -d "$work/up"; settle; capture down-normally-up up
# up, normally down (started once with svc -o on a down service)
mksvc once 'exec sleep 1000' down; start once; capture down-normally-down once
svc -o "$work/once"; settle; capture once-up-normally-down once
# want down while still up: a service that ignores TERM
mksvc stubborn "trap '' TERM; exec sleep 1000"; start stubborn; settle
svc -d "$work/stubborn"; settle; capture up-want-down stubborn
svc -p "$work/stubborn"; settle; capture up-paused-want-down stubborn
svc -k "$work/stubborn"; settle
# down, want up: fork fails (RLIMIT_NPROC for an unprivileged user)
mksvc forkfail 'exec sleep 1000'; chown -R nobody "$work/forkfail"
(cd "$work" && exec "$ref/setuidgid" nobody "$ref/softlimit" -p 1 "$ref/supervise" forkfail) 2>/dev/null & pids+=($!)
for _ in $(seq 100); do [ -s "$work/forkfail/supervise/status" ] && break; sleep 0.05; done
sleep 0.5; capture down-want-up forkfail
# a once-run service that ended: not restarted, want byte 0
svc -k "$work/once"; settle; capture once-exited once
