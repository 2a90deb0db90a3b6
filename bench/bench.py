#!/usr/bin/env python3
"""Benchmarks of daemontools-rs side by side with daemontools 0.76, runit
and s6, in one run: interleaved repetitions, medians and ratios.

Entry point: bench/run (builds the release binaries, installs the peers'
Debian packages when apt-get is available, then runs this file).

    bench/run [--quick | --full] [--only SECTIONS] [--ours DIR]

--ours DIR points the "ours" column at other binaries: `--ours /usr/bin`
(daemontools' own) must give ratios of about 1.0, the sanity check.

Output: a markdown table per section, then one machine-readable line per
figure: `BENCH section figure impl value unit`.
Every process started here is ended by PID (or by the process group that
was created for it), and every temp directory is removed.
"""

import argparse
import json
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


# --------------------------------------------------------------------------
# implementations


class Impl:
    """One supervision suite: how to run a scanner, control a service,
    ask for status, and run its logger."""

    def __init__(self, name, bindir, scanner, supervisor, ctl, status, logger=None, path_first=None):
        self.name = name
        self.bindir = bindir
        self.scanner = scanner  # argv prefix, scan dir appended
        self.supervisor = supervisor  # comm name of the per-service process
        self.ctl = ctl  # dict action -> argv prefix (service dir appended)
        self.status = status  # dict name -> argv prefix for per-call costs
        self.logger = logger
        self.path_first = path_first or bindir

    def env(self):
        e = dict(os.environ)
        e["PATH"] = self.path_first + ":/usr/local/bin:/usr/bin:/bin"
        return e


def implementations(ours):
    impls = []
    b = ours
    impls.append(
        Impl(
            "ours",
            b,
            [f"{b}/svscan"],
            "supervise",
            {"restart": [f"{b}/svc", "-t"], "down": [f"{b}/svc", "-d"], "up": [f"{b}/svc", "-u"]},
            {"signal (svc -a)": [f"{b}/svc", "-a"], "status (svstat)": [f"{b}/svstat"], "check (svok)": [f"{b}/svok"]},
        )
    )
    if os.path.exists("/usr/share/doc/daemontools") and os.path.exists("/usr/bin/svscan"):
        d = "/usr/bin"
        impls.append(
            Impl(
                "daemontools",
                d,
                [f"{d}/svscan"],
                "supervise",
                {"restart": [f"{d}/svc", "-t"], "down": [f"{d}/svc", "-d"], "up": [f"{d}/svc", "-u"]},
                {"signal (svc -a)": [f"{d}/svc", "-a"], "status (svstat)": [f"{d}/svstat"], "check (svok)": [f"{d}/svok"]},
                path_first="/usr/bin",
            )
        )
    else:
        log("note: daemontools not installed; its column is skipped")
    if shutil.which("runsvdir") and shutil.which("sv"):
        impls.append(
            Impl(
                "runit",
                "/usr/bin",
                ["/usr/bin/runsvdir"],
                "runsv",
                {"restart": ["/usr/bin/sv", "term"], "down": ["/usr/bin/sv", "down"], "up": ["/usr/bin/sv", "up"]},
                {"signal (svc -a)": ["/usr/bin/sv", "alarm"], "status (svstat)": ["/usr/bin/sv", "status"]},
            )
        )
    else:
        log("note: runit not installed; its column is skipped")
    if shutil.which("s6-svscan"):
        impls.append(
            Impl(
                "s6",
                "/usr/bin",
                ["/usr/bin/s6-svscan"],
                "s6-supervise",
                {"restart": ["/usr/bin/s6-svc", "-t"], "down": ["/usr/bin/s6-svc", "-d"], "up": ["/usr/bin/s6-svc", "-u"]},
                {"signal (svc -a)": ["/usr/bin/s6-svc", "-a"], "status (svstat)": ["/usr/bin/s6-svstat"], "check (svok)": ["/usr/bin/s6-svok"]},
            )
        )
    else:
        log("note: s6 not installed; its column is skipped")
    return impls


# --------------------------------------------------------------------------
# process bookkeeping


class Reaper:
    """Remembers every process group and pid started, ends them all."""

    def __init__(self, work):
        self.groups = []
        self.pidfile = os.path.join(work, "service-pids")
        open(self.pidfile, "w").close()

    def spawn(self, argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        self.groups.append(p)
        return p

    def end(self, p):
        """Kills a group started with spawn (scanner + supervisors), then
        the services that recorded their pids (some supervisors give each
        service its own session)."""
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
        self.kill_services()

    def kill_services(self):
        with open(self.pidfile) as f:
            pids = [int(x) for x in f.read().split() if x.strip().isdigit()]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        open(self.pidfile, "w").close()

    def end_all(self):
        for p in self.groups:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        self.kill_services()


def wait_until(cond, limit, step=0.005):
    end = time.monotonic() + limit
    while True:
        if cond():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(step)


def proc_children(pid):
    """pids of the direct children of pid."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError):
        return 0


def smaps(pid, keys):
    out = dict.fromkeys(keys, 0)
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if parts and parts[0].rstrip(":") in out:
                    out[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        pass
    return out


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# --------------------------------------------------------------------------
# service trees

RUN = """#!/bin/sh
echo $$ >> {pidfile}
echo $$ > pid
exec sleep 100000000
"""

CRASH = """#!/bin/sh
echo $$ >> {pidfile}
echo $$ >> starts
exit 1
"""


def make_service(path, body, pidfile):
    os.makedirs(path)
    with open(os.path.join(path, "run"), "w") as f:
        f.write(body.format(pidfile=pidfile))
    os.chmod(os.path.join(path, "run"), 0o755)


def make_tree(scandir, n, pidfile):
    os.makedirs(scandir)
    for i in range(n):
        make_service(os.path.join(scandir, f"s{i:05d}"), RUN, pidfile)


def all_up(scandir, n):
    return all(os.path.exists(os.path.join(scandir, f"s{i:05d}", "pid")) for i in range(n))


def supervisors(impl, scanner_pid):
    return [p for p in proc_children(scanner_pid) if comm(p) == impl.supervisor]


class Tree:
    """A scanner running a tree of n services."""

    def __init__(self, impl, reaper, work, n, tag):
        self.impl, self.reaper, self.n = impl, reaper, n
        self.dir = os.path.join(work, f"{impl.name}-{tag}")
        make_tree(self.dir, n, reaper.pidfile)
        self.t0 = time.monotonic()
        self.p = reaper.spawn(impl.scanner + [self.dir], env=impl.env(), cwd=self.dir)
        self.up_after = None

    def wait_up(self, limit):
        if wait_until(lambda: all_up(self.dir, self.n), limit, step=0.01):
            self.up_after = time.monotonic() - self.t0
        return self.up_after

    def supervisors(self):
        return supervisors(self.impl, self.p.pid)

    def end(self):
        self.reaper.end(self.p)


# --------------------------------------------------------------------------
# sections


class Results:
    def __init__(self):
        self.rows = []  # (section, figure, impl, value, unit)

    def add(self, section, figure, impl, value, unit):
        self.rows.append((section, figure, impl, value, unit))
        log(f"  {section}: {figure} [{impl}] = {fmt(value)} {unit}")

    def table(self, impl_names):
        out = []
        sections = []
        for r in self.rows:
            if r[0] not in sections:
                sections.append(r[0])
        for sec in sections:
            rows = [r for r in self.rows if r[0] == sec]
            figures = []
            for r in rows:
                if (r[1], r[4]) not in figures:
                    figures.append((r[1], r[4]))
            names = [n for n in impl_names if any(r[2] == n for r in rows)]
            out.append(f"\n### {sec}\n")
            out.append("| figure | " + " | ".join(names) + " | ours / best peer |")
            out.append("|---|" + "---|" * (len(names) + 1))
            for fig, unit in figures:
                vals = {r[2]: r[3] for r in rows if r[1] == fig}
                cells = [fmt(vals.get(n)) for n in names]
                ratio = ""
                peers = [v for k, v in vals.items() if k != "ours" and isinstance(v, (int, float))]
                if "ours" in vals and peers:
                    higher_better = unit in ("MB/s", "lines/s")
                    best = max(peers) if higher_better else min(peers)
                    if best:
                        ratio = f"{vals['ours'] / best:.2f}"
                out.append(f"| {fig} ({unit}) | " + " | ".join(cells) + f" | {ratio} |")
        return "\n".join(out)

    def machine(self):
        return "\n".join(
            f"BENCH {s.replace(' ', '_')} {f.replace(' ', '_')} {i} {fmt(v)} {u}" for s, f, i, v, u in self.rows
        )


def fmt(v):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if v != v:
            return "n/a"
        if abs(v) >= 100:
            return f"{v:.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.3g}"
    return str(v)


def section_tree(impls, reaper, work, res, cfg):
    """Time until N services are up; memory per service; idle CPU."""
    for n in cfg["tree_sizes"]:
        sec = f"Supervision tree, {n} services"
        ups = {i.name: [] for i in impls}
        mem = {}
        idle = {}
        for rep in range(cfg["reps"]):
            for impl in impls:  # interleaved
                t = Tree(impl, reaper, work, n, f"{n}-{rep}")
                try:
                    up = t.wait_up(cfg["up_limit"])
                    ups[impl.name].append(up if up is not None else float("nan"))
                    if rep == 0 and n == cfg["tree_sizes"][0]:
                        time.sleep(2)  # let start-up settle (supervise sleeps 1 s)
                        sups = t.supervisors()
                        m = [smaps(p, ("Private_Clean", "Private_Dirty", "Pss")) for p in sups]
                        mem[impl.name] = (
                            median([x["Private_Clean"] + x["Private_Dirty"] for x in m]),
                            median([x["Pss"] for x in m]),
                            smaps(t.p.pid, ("Pss",))["Pss"] / max(n, 1),
                        )
                        procs = [t.p.pid] + sups
                        c0 = sum(cpu_ticks(p) for p in procs)
                        time.sleep(cfg["idle_secs"])
                        c1 = sum(cpu_ticks(p) for p in procs)
                        hz = os.sysconf("SC_CLK_TCK")
                        idle[impl.name] = (c1 - c0) / hz * 1000 * 60 / cfg["idle_secs"]
                finally:
                    t.end()
                    shutil.rmtree(t.dir, ignore_errors=True)
        for impl in impls:
            res.add(sec, "time until all up", impl.name, median(ups[impl.name]), "s")
        for impl in impls:
            if impl.name in mem:
                uss, pss, scan = mem[impl.name]
                res.add(sec, "supervisor USS per service", impl.name, uss, "kB")
                res.add(sec, "supervisor PSS per service", impl.name, pss, "kB")
                res.add(sec, "scanner PSS per service", impl.name, scan, "kB")
        for impl in impls:
            if impl.name in idle:
                res.add(sec, f"idle CPU of the tree", impl.name, idle[impl.name], "ms/min")


def section_link(impls, reaper, work, res, cfg):
    """New service linked into a running tree -> up."""
    sec = f"Pickup and restarts ({cfg['link_tree']} services running)"
    lat = {i.name: [] for i in impls}
    restart = {i.name: [] for i in impls}
    down = {i.name: [] for i in impls}
    crash = {i.name: [] for i in impls}
    trees = {}
    try:
        for impl in impls:
            t = Tree(impl, reaper, work, cfg["link_tree"], "link")
            if t.wait_up(cfg["up_limit"]) is None:
                log(f"warning: {impl.name}: tree did not come up")
            trees[impl.name] = t
        time.sleep(2)
        for rep in range(cfg["link_reps"]):
            for impl in impls:
                t = trees[impl.name]
                name = f"new{rep}"
                staging = os.path.join(work, f"stage-{impl.name}-{name}")
                make_service(staging, RUN, reaper.pidfile)
                t0 = time.monotonic()
                os.symlink(staging, os.path.join(t.dir, name))
                if impl.name == "s6":
                    subprocess.run(["s6-svscanctl", "-a", t.dir])
                ok = wait_until(lambda: os.path.exists(os.path.join(staging, "pid")), 15, step=0.001)
                lat[impl.name].append(time.monotonic() - t0 if ok else float("nan"))
        # restart latency: restart command -> new process running
        for rep in range(cfg["link_reps"]):
            for impl in impls:
                t = trees[impl.name]
                svc = os.path.join(t.dir, "s00000")
                pidf = os.path.join(svc, "pid")
                old = open(pidf).read().strip()
                time.sleep(1.1)  # a service up for over a second restarts at once everywhere
                t0 = time.monotonic()
                subprocess.run(impl.ctl["restart"] + [svc], env=impl.env())
                ok = wait_until(lambda: open(pidf).read().strip() not in ("", old), 10, step=0.001)
                restart[impl.name].append(time.monotonic() - t0 if ok else float("nan"))
        # down latency: down command -> process gone
        for impl in impls:
            t = trees[impl.name]
            for rep in range(cfg["link_reps"]):
                svc = os.path.join(t.dir, f"s{rep + 1:05d}")
                pid = int(open(os.path.join(svc, "pid")).read())
                t0 = time.monotonic()
                subprocess.run(impl.ctl["down"] + [svc], env=impl.env())
                ok = wait_until(lambda: not os.path.exists(f"/proc/{pid}") or comm(pid) != "sleep", 10, step=0.001)
                down[impl.name].append(time.monotonic() - t0 if ok else float("nan"))
        # crash -> next start: interval between starts of a crashing service
        for impl in impls:
            t = trees[impl.name]
            staging = os.path.join(work, f"crash-{impl.name}")
            make_service(staging, CRASH, reaper.pidfile)
            os.symlink(staging, os.path.join(t.dir, "crash"))
            if impl.name == "s6":
                subprocess.run(["s6-svscanctl", "-a", t.dir])
            starts = os.path.join(staging, "starts")
            seen = []
            end = time.monotonic() + 30
            count = 0
            while len(seen) < cfg["crash_starts"] and time.monotonic() < end:
                try:
                    c = open(starts).read().count("\n")
                except OSError:
                    c = 0
                if c > count:
                    seen.extend([time.monotonic()] * (c - count))
                    count = c
                time.sleep(0.001)
            gaps = [b - a for a, b in zip(seen, seen[1:]) if b > a]
            crash[impl.name] = gaps
            subprocess.run(impl.ctl["down"] + [os.path.join(t.dir, "crash")], env=impl.env())
    finally:
        for t in trees.values():
            t.end()
            shutil.rmtree(t.dir, ignore_errors=True)
    for impl in impls:
        res.add(sec, "new link -> service running", impl.name, median(lat[impl.name]) * 1000, "ms")
    for impl in impls:
        res.add(sec, "restart command -> new process", impl.name, median(restart[impl.name]) * 1000, "ms")
    for impl in impls:
        res.add(sec, "down command -> process gone", impl.name, median(down[impl.name]) * 1000, "ms")
    for impl in impls:
        res.add(sec, "crash -> next start", impl.name, median(crash[impl.name]) * 1000, "ms")


def instructions(argv, env):
    if not shutil.which("valgrind"):
        return None
    r = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + argv,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in r.stderr.splitlines():
        if "Collected :" in line:
            return int(line.split()[-1])
    return None


def wall_us(argv, env, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return median(times) * 1e6


def section_calls(impls, reaper, work, res, cfg):
    """Per-call cost of the status/control tools on one running service
    (the peers' equivalents: runit's sv alarm/status, s6-svc -a, s6-svstat,
    s6-svok)."""
    sec = "Per-call cost of the control tools"
    trees = {}
    try:
        for impl in impls:
            t = Tree(impl, reaper, work, 1, "calls")
            t.wait_up(cfg["up_limit"])
            trees[impl.name] = t
        time.sleep(1.5)
        for impl in impls:
            svc = os.path.join(trees[impl.name].dir, "s00000")
            for tool, argv in impl.status.items():
                n = instructions(argv + [svc], impl.env())
                if n is not None:
                    res.add(sec, f"{tool} instructions", impl.name, n, "instr")
        # wall time, interleaved
        walls = {}
        for _ in range(2):
            for impl in impls:
                svc = os.path.join(trees[impl.name].dir, "s00000")
                for tool, argv in impl.status.items():
                    walls.setdefault((impl.name, tool), []).append(wall_us(argv + [svc], impl.env(), cfg["call_runs"]))
        for (name, tool), v in walls.items():
            res.add(sec, f"{tool} wall time", name, median(v), "us")
    finally:
        for t in trees.values():
            t.end()
            shutil.rmtree(t.dir, ignore_errors=True)


SECTIONS = {
    "tree": section_tree,
    "pickup": section_link,
    "calls": section_calls,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="the default: under 3 minutes")
    mode.add_argument("--full", action="store_true", help="larger trees, longer windows: under 15 minutes")
    ap.add_argument("--only", default="", help="comma-separated sections: " + ",".join(SECTIONS))
    ap.add_argument("--ours", default=os.path.join(ROOT, "target/release"), help="our binaries")
    args = ap.parse_args()
    if args.full:
        cfg = dict(tree_sizes=[200, 1000], reps=3, up_limit=120, idle_secs=60, link_tree=200, link_reps=7,
                   crash_starts=6, call_runs=200, log_mb=200, log_reps=3)
    else:
        cfg = dict(tree_sizes=[200], reps=1, up_limit=60, idle_secs=10, link_tree=50, link_reps=3,
                   crash_starts=4, call_runs=100, log_mb=20, log_reps=2)
    ours = os.path.abspath(args.ours)
    impls = implementations(ours)
    only = [s for s in args.only.split(",") if s] or list(SECTIONS)
    work = tempfile.mkdtemp(prefix="dtrs-bench-")
    reaper = Reaper(work)
    res = Results()
    t0 = time.monotonic()
    try:
        for name in only:
            log(f"== {name}")
            SECTIONS[name](impls, reaper, work, res, cfg)
    finally:
        reaper.end_all()
        shutil.rmtree(work, ignore_errors=True)
    print(f"## Benchmarks ({'full' if args.full else 'quick'} mode, {time.strftime('%Y-%m-%d')}, "
          f"{os.cpu_count()} cores, ours = {ours}, {time.monotonic() - t0:.0f} s)")
    print(res.table([i.name for i in impls]))
    print()
    print(res.machine())


if __name__ == "__main__":
    main()
