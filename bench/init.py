#!/usr/bin/env python3
"""svscan as a container's init, side by side with s6-svscan, in one run.

Each tree runs as PID 1 of a new PID namespace (`unshare --pid --fork
--mount-proc --kill-child`), as `docker run` would start it.

    bench/init.py [--services N] [--rounds R] [--ours DIR]

Figures:
- stop: time from SIGTERM to the exit of PID 1 for N logged services that
  write numbered lines (ours: svscan + multilog; s6: s6-svscan + s6-log),
  and how many lines each tree lost or doubled in its logs;
- zombies: a service makes short-lived orphans as fast as it can; the
  number of zombie children of PID 1 sampled every 100 ms for 5 s (max and
  mean).
The idle CPU of a tree is measured by `bench/run --only tree` (ours, daemontools,
runit, s6 in the same run).

Output: a markdown table, then `BENCH init FIGURE IMPL VALUE UNIT` lines.
Every process started here is ended by PID, every temp directory removed.
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


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def script(path, body):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, 0o755)


PRODUCER = "#!/bin/sh\nexec 2>&1\ni=0\nwhile :; do i=$((i+1)); echo $i; sleep 0.05; done\n"
STORM = "#!/bin/sh\nwhile :; do sh -c 'sleep 0.01 &'; done\n"


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rfind(")") + 2:].split()
        if int(rest[1]) == pid:
            out.append((int(d), rest[0]))
    return out


class Tree:
    """A tree under a scanner as PID 1 of a PID namespace."""

    def __init__(self, impl, ours, n, producer=PRODUCER, storm=False):
        self.impl = impl
        self.tmp = tempfile.mkdtemp(prefix=f"init-{impl}-")
        self.dir = os.path.join(self.tmp, "service")
        for i in range(n):
            d = os.path.join(self.dir, f"s{i:03d}")
            script(f"{d}/run", producer)
            logger = "multilog ./main" if impl == "ours" else "s6-log ./main"
            script(f"{d}/log/run", f"#!/bin/sh\nexec {logger}\n")
        if storm:
            script(os.path.join(self.dir, "storm/run"), STORM)
        env = dict(os.environ)
        if impl == "ours":
            env["PATH"] = f"{ours}:/usr/bin:/bin"
            argv = [f"{ours}/svscan", self.dir]
        else:
            env["PATH"] = "/usr/bin:/bin"
            argv = ["s6-svscan", self.dir]
        self.p = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"] + argv,
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.pid1 = None
        end = time.time() + 10
        while time.time() < end and not self.pid1:
            kids = children(self.p.pid)
            if kids:
                self.pid1 = kids[0][0]
            time.sleep(0.01)

    def logs_growing(self, n, limit=120):
        end = time.time() + limit
        while time.time() < end:
            ok = 0
            for i in range(n):
                cur = os.path.join(self.dir, f"s{i:03d}/log/main/current")
                try:
                    if os.path.getsize(cur) > 0:
                        ok += 1
                except OSError:
                    pass
            if ok == n:
                return True
            time.sleep(0.2)
        return False

    def stop(self):
        t0 = time.monotonic()
        os.kill(self.pid1, signal.SIGTERM)
        try:
            self.p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            return None
        return time.monotonic() - t0

    def check_lines(self, n):
        """(lost, doubled) lines over all services."""
        lost = doubled = 0
        for i in range(n):
            d = os.path.join(self.dir, f"s{i:03d}/log/main")
            nums = []
            for name in sorted(os.listdir(d)):
                if name.startswith("@") or name == "current":
                    with open(os.path.join(d, name), "rb") as f:
                        for line in f.read().split(b"\n"):
                            if line.strip().isdigit():
                                nums.append(int(line))
            if not nums:
                continue
            seen = set(nums)
            doubled += len(nums) - len(seen)
            lost += max(seen) - len(seen)
        return lost, doubled

    def close(self):
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGKILL)
            self.p.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def zombies(tree, secs=5.0):
    samples = []
    end = time.time() + secs
    while time.time() < end:
        samples.append(sum(1 for _, st in children(tree.pid1) if st == "Z"))
        time.sleep(0.1)
    return max(samples), statistics.mean(samples)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ours", default=os.path.join(ROOT, "target/release"))
    a = ap.parse_args()
    impls = ["ours"]
    if shutil.which("s6-svscan") and shutil.which("s6-log"):
        impls.append("s6")
    else:
        log("note: s6 not installed; its column is skipped")
    res = {}
    for r in range(a.rounds):
        for impl in (impls if r % 2 == 0 else impls[::-1]):
            t = Tree(impl, a.ours, a.services)
            try:
                if not t.logs_growing(a.services):
                    log(f"{impl}: tree not logging; round skipped")
                    continue
                time.sleep(2)
                secs = t.stop()
                lost, doubled = t.check_lines(a.services)
                log(f"round {r} {impl}: stop {secs} s, lost {lost}, doubled {doubled}")
                res.setdefault((impl, "stop"), []).append(secs if secs is not None else float("nan"))
                res.setdefault((impl, "lost"), []).append(lost)
                res.setdefault((impl, "doubled"), []).append(doubled)
            finally:
                t.close()
    for impl in impls:
        t = Tree(impl, a.ours, 0, storm=True)
        try:
            time.sleep(2)
            mx, mean = zombies(t)
            res[(impl, "zombies max")] = [mx]
            res[(impl, "zombies mean")] = [mean]
            log(f"{impl}: zombies max {mx} mean {mean:.2f}")
        finally:
            t.close()
    print(f"| figure ({a.services} logged services) | " + " | ".join(impls) + " |")
    print("|---|" + "---|" * len(impls))
    for fig, unit in (("stop", "s"), ("lost", "lines"), ("doubled", "lines"),
                      ("zombies max", "zombies"), ("zombies mean", "zombies")):
        cells = []
        for impl in impls:
            v = res.get((impl, fig))
            cells.append("-" if not v else f"{statistics.median(v):.3g}")
        print(f"| {fig} ({unit}, median) | " + " | ".join(cells) + " |")
    for (impl, fig), v in sorted(res.items()):
        print(f"BENCH init {fig.replace(' ', '_')} {impl} {statistics.median(v):.6g}")


if __name__ == "__main__":
    main()
