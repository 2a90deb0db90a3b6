#!/usr/bin/env python3
"""Readiness (issue 13): our svwait against s6-svwait, the anchor, in the
same run.

1. latency: a service with `notification-fd 3` whose ./run blocks on a
   fifo; when the fifo lets it go, it stamps CLOCK_MONOTONIC into a file
   and at once writes the newline on fd 3. A waiter (`svwait -U DIR` on our
   supervise, `s6-svwait -U DIR` on s6-supervise), started and set up
   before, exits; the harness stamps CLOCK_MONOTONIC when waitpid returns.
   Latency = exit stamp - signal stamp: supervise's read of the pipe, its
   status writes, the waiter's wake-up, read and exit. The two sides
   alternate round by round; each round restarts the service first.
2. idle CPU: each waiter waits for S seconds (default 60) on a service that
   never becomes ready; its utime+stime from /proc/PID/stat (10 ms ticks)
   at the end (with its children: s6-svwait listens through s6-ftrigrd).
   No polling means 0 ticks.

Usage: bench/readiness.py [--ours DIR] [--rounds N] [--idle-seconds S]
  --ours DIR   our binaries (default target/release, built with cargo)
Output: markdown tables, then `BENCH readiness FIGURE IMPL VALUE UNIT` lines.
Every process started here is ended by PID; the temp directory is removed.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RUN = """#!/usr/bin/env python3
import os, time
with open("go") as f:
    f.readline()
with open("signalled.new", "w") as f:
    f.write(str(time.monotonic_ns()))
os.rename("signalled.new", "signalled")
os.write(3, b"\\n")
os.execvp("sleep", ["sleep", "100000"])
"""


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def wait_for(cond, what, limit=30.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.005)
    raise SystemExit(f"readiness bench: timed out waiting for {what}")


def fds_of(pid):
    out = []
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                pass
    except OSError:
        pass
    return out


def family(pid):
    """pid and its descendants (s6-svwait listens through a child,
    s6-ftrigrd, which holds the event fifo)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


class Side:
    """One supervisor with one service, and its waiter."""

    def __init__(self, label, work, supervise, waiter, svc, armed_mark, state):
        self.label = label
        self.dir = os.path.join(work, label)
        os.makedirs(self.dir)
        with open(os.path.join(self.dir, "run"), "w") as f:
            f.write(RUN)
        os.chmod(os.path.join(self.dir, "run"), 0o755)
        with open(os.path.join(self.dir, "notification-fd"), "w") as f:
            f.write("3\n")
        os.mkfifo(os.path.join(self.dir, "go"))
        self.waiter = waiter
        self.svc = svc
        self.armed_mark = armed_mark
        self.state = state  # -> (pid, ready) of the current run
        self.sup = subprocess.Popen(
            [supervise, self.dir],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def restart_unready(self):
        """Restarts ./run and waits until the new run is up, not ready."""
        old = wait_for(lambda: self.state(self.dir)[0], f"{self.label} up")
        try:
            os.unlink(os.path.join(self.dir, "signalled"))
        except FileNotFoundError:
            pass
        subprocess.run([self.svc, "-k", self.dir], check=True)
        wait_for(
            lambda: (lambda p, r: p and p != old and not r)(*self.state(self.dir)),
            f"{self.label} restarted",
        )

    def start_waiter(self, opt):
        p = subprocess.Popen(
            [self.waiter, opt, self.dir],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(
            lambda: any(
                self.armed_mark in l for q in family(p.pid) for l in fds_of(q)
            ),
            f"{self.label} waiter set up",
        )
        return p

    def latency_round(self):
        self.restart_unready()
        w = self.start_waiter("-U")
        # a blocked ./run holds the fifo open for reading: this does not block
        with open(os.path.join(self.dir, "go"), "w") as f:
            f.write("go\n")
        # a blocking waitpid: Popen.wait(timeout) polls with sleeps of up
        # to 50 ms, which would be measured
        _, status = os.waitpid(w.pid, 0)
        exited = time.monotonic_ns()
        w.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise SystemExit(f"{self.label}: waiter exited {code}")
        with open(os.path.join(self.dir, "signalled")) as f:
            signalled = int(f.read())
        return (exited - signalled) / 1000.0  # microseconds

    def stop(self):
        pid = self.state(self.dir)[0]
        self.sup.kill()
        self.sup.wait()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def ours_state(d):
    import json

    try:
        with open(os.path.join(d, "supervise/status.json")) as f:
            r = json.load(f)
        return (r["pid"], r["ready"] is not None)
    except (OSError, ValueError, KeyError):
        return (0, False)


def s6_state(d):
    r = subprocess.run(
        ["s6-svstat", "-o", "pid,ready", d],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        return (0, False)
    pid, ready = r.stdout.split()
    return (max(int(pid), 0), ready == "true")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", default=None)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--idle-seconds", type=int, default=60)
    a = ap.parse_args()
    ours = a.ours
    if ours is None:
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
        ours = os.path.join(ROOT, "target/release")
    ours = os.path.abspath(ours)
    if not shutil.which("s6-svwait"):
        raise SystemExit("s6 is not installed (apt-get install s6)")
    work = tempfile.mkdtemp(prefix="bench-readiness-")
    sides = []
    try:
        sides.append(
            Side(
                "ours",
                work,
                os.path.join(ours, "supervise"),
                os.path.join(ours, "svwait"),
                os.path.join(ours, "svc"),
                "/supervise/ok",
                ours_state,
            )
        )
        sides.append(
            Side(
                "s6",
                work,
                shutil.which("s6-supervise"),
                shutil.which("s6-svwait"),
                shutil.which("s6-svc"),
                "/event/ftrig1",
                s6_state,
            )
        )
        lat = {s.label: [] for s in sides}
        for i in range(a.rounds):
            order = sides if i % 2 == 0 else sides[::-1]
            for s in order:
                lat[s.label].append(s.latency_round())
        print(f"### Readiness signal -> waiter's exit ({a.rounds} rounds, microseconds)\n")
        print("| waiter | median | p90 | min | max |")
        print("|---|---|---|---|---|")
        fig = {}
        for s in sides:
            v = sorted(lat[s.label])
            med = statistics.median(v)
            p90 = v[min(len(v) - 1, int(len(v) * 0.9))]
            fig[s.label] = med
            name = "svwait -U" if s.label == "ours" else "s6-svwait -U"
            print(f"| {name} | {med:.0f} | {p90:.0f} | {v[0]:.0f} | {v[-1]:.0f} |")
        print(f"\nours/s6 (median): {fig['ours'] / fig['s6']:.2f}\n")

        # idle: both waiters at once on services that stay unready
        for s in sides:
            s.restart_unready()
        waiters = [(s, s.start_waiter("-U")) for s in sides]
        log(f"idle: {a.idle_seconds} s")
        time.sleep(a.idle_seconds)
        ticks = {}
        for s, w in waiters:
            ticks[s.label] = sum(cpu_ticks(q) for q in family(w.pid))
            w.kill()
            w.wait()
        print(f"### Waiter CPU while waiting {a.idle_seconds} s (10 ms ticks)\n")
        print("| waiter | utime+stime |")
        print("|---|---|")
        for s in sides:
            name = "svwait -U" if s.label == "ours" else "s6-svwait -U"
            print(f"| {name} | {ticks[s.label]} |")
        print()
        for s in sides:
            print(f"BENCH readiness latency_median {s.label} {fig[s.label]:.0f} us")
        for s in sides:
            print(f"BENCH readiness idle_cpu {s.label} {ticks[s.label]} ticks")
        # let the runs go, so nothing stays blocked on the fifos
    finally:
        for s in sides:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
