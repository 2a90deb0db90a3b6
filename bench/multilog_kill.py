#!/usr/bin/env python3
"""multilog under SIGKILL with a backlog: lines lost, doubled and torn per
kill, ours against Debian's daemontools 0.76, in one run.

The scenario of issue 10, as an operator meets it (a logger restarted by
`svc -k`, the OOM killer, a crash) while the service is chatty:

    mkfifo p; exec 3<>p                      # the pipe stays open, as svscan holds it
    seq -f 'L%08g:E' 1 N > p &
    K times: multilog SCRIPT < p & sleep RANDOM; kill -9 $!
    then one multilog to the end (the writer done, fd 3 closed: EOF)

and then every file of the log directory (`current`, `@*.s`, `@*.u`) is
read: a line is *logged* if it appears whole (stamp removed with `t`);
*lost* = input lines never logged, *doubled* = extra copies of logged
lines, *torn* = pieces of lines (a line cut by the kill). The sleeps are
the same for both programs (one seeded random sequence per repetition).

    bench/multilog_kill.py [--lines N] [--kills K] [--reps R] [--dir DIR]
                           [--ours DIR] [--ref DIR] [--seed S]

Default: 300000 lines, 20 kills, 3 repetitions, sleeps of 20-80 ms, log
directories under --dir (default: a temporary directory on the disk that
holds /var/tmp; the fsyncs of a rotation are part of the story). Needs
seq(1) and the reference /usr/bin/multilog.
"""

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SCRIPTS = [
    ["t", "s4096", "n100000"],
    ["t", "s1000000", "n100000"],
    ["s4096", "n100000"],
]

LINE = re.compile(rb"^L(\d{8}):E$")
STAMP = re.compile(rb"^@[0-9a-f]{24} ")


def count(logdir, n, stamped):
    """(logged, lost, doubled, torn) over every file of the directory."""
    seen = [0] * (n + 1)
    torn = 0
    for name in os.listdir(logdir):
        p = os.path.join(logdir, name)
        if name in ("lock", "state", "newstate", "pending") or not os.path.isfile(p):
            continue
        with open(p, "rb") as f:
            data = f.read()
        for line in data.split(b"\n"):
            if not line:
                continue
            if stamped:
                if not STAMP.match(line):
                    torn += 1
                    continue
                line = line[26:]
            m = LINE.match(line)
            if m and 1 <= int(m.group(1)) <= n:
                seen[int(m.group(1))] += 1
            else:
                torn += 1
    logged = sum(1 for c in seen[1:] if c)
    doubled = sum(c - 1 for c in seen[1:] if c > 1)
    return logged, n - logged, doubled, torn


def run_scenario(prog, script, work, n, kills, rng_seed):
    rng = random.Random(rng_seed)
    fifo = os.path.join(work, "p")
    logdir = os.path.join(work, "L")
    os.mkfifo(fifo)
    hold = os.open(fifo, os.O_RDWR)  # the pipe stays open, as svscan holds it
    wfd = os.open(fifo, os.O_WRONLY)
    writer = subprocess.Popen(["seq", "-f", "L%08g:E", "1", str(n)], stdout=wfd)
    os.close(wfd)
    procs = []

    def start():
        rfd = os.open(fifo, os.O_RDONLY)
        p = subprocess.Popen([prog] + script + [logdir], stdin=rfd, cwd=work,
                             stderr=subprocess.DEVNULL)
        os.close(rfd)
        procs.append(p)
        return p

    try:
        for _ in range(kills):
            p = start()
            time.sleep(rng.uniform(0.02, 0.08))
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
        last = start()
        writer.wait()
        os.close(hold)
        hold = None
        if last.wait(timeout=600) != 0:
            raise SystemExit(f"{prog}: final run failed")
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        if hold is not None:
            os.close(hold)
    return count(logdir, n, script[0] == "t")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=300000)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--ours", default=None)
    ap.add_argument("--ref", default="/usr/bin")
    ap.add_argument("--seed", type=int, default=76)
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if a.ours is None:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "multilog"],
                       cwd=root, check=True)
        a.ours = os.path.join(root, "target", "release")
    progs = [("ours", os.path.abspath(os.path.join(a.ours, "multilog"))),
             ("0.76", os.path.abspath(os.path.join(a.ref, "multilog")))]
    for _, p in progs:
        if not os.access(p, os.X_OK):
            raise SystemExit(f"{p} missing")
    print(f"{a.lines} lines, {a.kills} SIGKILLs per run at 20-80 ms, then a run to the end; "
          f"{a.reps} repetitions; log directories in {a.dir}")
    print()
    print("| script | program | lost per kill | doubled per kill | torn lines per run "
          "| lost (runs) | doubled (runs) |")
    print("|---|---|---|---|---|---|---|")
    for script in SCRIPTS:
        res = {name: [] for name, _ in progs}
        for rep in range(a.reps):
            seed = a.seed * 1000 + rep
            # The same sleeps for both; who goes first alternates.
            order = progs if rep % 2 == 0 else progs[::-1]
            for name, prog in order:
                work = tempfile.mkdtemp(prefix="dtrs-kill.", dir=a.dir)
                try:
                    r = run_scenario(prog, script, work, a.lines, a.kills, seed)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                res[name].append(r)
                print(f"  {' '.join(script)} {name} rep {rep + 1}: logged {r[0]}, lost {r[1]}, "
                      f"doubled {r[2]}, torn {r[3]}", file=sys.stderr)
        for name, _ in progs:
            rs = res[name]
            lost = [r[1] for r in rs]
            dbl = [r[2] for r in rs]
            torn = [r[3] for r in rs]
            per = lambda v: sum(v) / len(v) / a.kills
            print(f"| `{' '.join(script)}` | {name} | {per(lost):.1f} | {per(dbl):.1f} | "
                  f"{sum(torn) / len(torn):.1f} | {', '.join(map(str, lost))} | "
                  f"{', '.join(map(str, dbl))} |")
    print()
    print(f"lines are `L%08g:E` (11 bytes); lost/doubled per kill = mean over the runs / {a.kills}")


if __name__ == "__main__":
    main()
