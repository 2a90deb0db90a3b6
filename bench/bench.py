#!/usr/bin/env python3
"""Benchmarks of daemontools-rs side by side with daemontools 0.76, runit
and s6, in one run: interleaved repetitions, medians and ratios.

Entry point: bench/run (builds the release binaries, installs the peers'
Debian packages when apt-get is available, then runs this file).

    bench/run [--quick | --full] [--only SECTIONS] [--ours DIR]

Sections: tree (memory per service, time until N up, idle CPU), idle (only
the idle CPU, 60 s window), pickup
(new link -> up, restart, down, crash -> next start), calls (per-call
cost of svc/svstat/svok), logging (multilog vs multilog, s6-log, svlogd,
cat > file), tai64n (tai64n, tai64nlocal).

--ours DIR points the "ours" column at other binaries: `--ours /usr/bin`
(daemontools' own) must give ratios of about 1.0, the sanity check. A
program missing from DIR is skipped, with a note.

Output: a markdown table per section, then one machine-readable line per
figure: `BENCH section figure impl value unit`.
Every process started here is ended by PID (or by the process group that
was created for it), and every temp directory is removed.
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
NOTES = []


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def note(text):
    """A remark printed with the results (skipped figures, failed checks)."""
    if text not in NOTES:
        NOTES.append(text)
    log("note: " + text)


def executable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


# --------------------------------------------------------------------------
# implementations


class Impl:
    """One supervision suite: how to run a scanner, a single supervisor,
    control a service and ask for its status."""

    def __init__(self, name, bindir, scanner, supervise, supervisor, ctl, status, path_first=None):
        self.name = name
        self.bindir = bindir
        self.scanner = scanner  # argv prefix, scan dir appended; None: not available
        self.supervise = supervise  # argv prefix of one supervisor, service dir appended
        self.supervisor = supervisor  # comm name of the per-service process
        self.ctl = ctl  # dict action -> argv prefix (service dir appended)
        self.status = status  # dict name -> argv prefix for per-call costs
        self.path_first = path_first or bindir

    def env(self):
        e = dict(os.environ)
        e["PATH"] = self.path_first + ":/usr/local/bin:/usr/bin:/bin"
        return e

    def scanner_argv(self, n):
        if self.name == "s6" and n > 900:
            # s6-svscan keeps at most 1000 services unless told otherwise
            return self.scanner[:1] + ["-c", str(2 * n)] + self.scanner[1:]
        return self.scanner


def daemontools_like(name, d, path_first=None):
    """ours or daemontools: the same programs, in directory d."""
    missing = [p for p in ("svscan", "supervise", "svc", "svstat", "svok") if not executable(f"{d}/{p}")]
    scanner = [f"{d}/svscan"] if executable(f"{d}/svscan") and executable(f"{d}/supervise") else None
    supervise = [f"{d}/supervise"] if executable(f"{d}/supervise") else None
    if missing:
        note(f"{name}: {', '.join(missing)} missing in {d}; figures that need them are skipped")
    status = {}
    for label, prog, flag in (("signal (svc -a)", "svc", ["-a"]), ("status (svstat)", "svstat", []),
                              ("check (svok)", "svok", [])):
        if executable(f"{d}/{prog}"):
            status[label] = [f"{d}/{prog}"] + flag
    ctl = {"restart": [f"{d}/svc", "-t"], "down": [f"{d}/svc", "-d"], "up": [f"{d}/svc", "-u"]}
    if not executable(f"{d}/svc"):
        ctl = None
    return Impl(name, d, scanner, supervise, "supervise", ctl, status, path_first=path_first)


def implementations(ours):
    impls = [daemontools_like("ours", ours)]
    if os.path.exists("/usr/share/doc/daemontools") and executable("/usr/bin/svscan"):
        impls.append(daemontools_like("daemontools", "/usr/bin", path_first="/usr/bin"))
    else:
        note("daemontools not installed; its column is skipped")
    if shutil.which("runsvdir") and shutil.which("sv"):
        impls.append(
            Impl(
                "runit",
                "/usr/bin",
                ["/usr/bin/runsvdir"],
                ["/usr/bin/runsv"],
                "runsv",
                {"restart": ["/usr/bin/sv", "term"], "down": ["/usr/bin/sv", "down"], "up": ["/usr/bin/sv", "up"]},
                {"signal (svc -a)": ["/usr/bin/sv", "alarm"], "status (svstat)": ["/usr/bin/sv", "status"]},
            )
        )
    else:
        note("runit not installed; its column is skipped")
    if shutil.which("s6-svscan"):
        impls.append(
            Impl(
                "s6",
                "/usr/bin",
                ["/usr/bin/s6-svscan"],
                ["/usr/bin/s6-supervise"],
                "s6-supervise",
                {"restart": ["/usr/bin/s6-svc", "-t"], "down": ["/usr/bin/s6-svc", "-d"], "up": ["/usr/bin/s6-svc", "-u"]},
                {"signal (svc -a)": ["/usr/bin/s6-svc", "-a"], "status (svstat)": ["/usr/bin/s6-svstat"], "check (svok)": ["/usr/bin/s6-svok"]},
            )
        )
    else:
        note("s6 not installed; its column is skipped")
    return impls


def with_scanner(impls, section):
    out = []
    for impl in impls:
        if impl.scanner is None or impl.ctl is None:
            note(f"{section}: {impl.name} skipped (no svscan/supervise/svc in {impl.bindir})")
        else:
            out.append(impl)
    return out


def rotated(xs, k):
    """xs starting at k % len: a different first runner each repetition."""
    k %= max(len(xs), 1)
    return xs[k:] + xs[:k]


# --------------------------------------------------------------------------
# process bookkeeping


def proc_children(pid):
    """pids of the direct children of pid."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        for c in proc_children(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


class Reaper:
    """Remembers every process started, ends them all by PID."""

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
        """Kills a process started with spawn, its process group, every
        descendant found under it (by PID: some supervisors give their
        children a session of their own), then the services that recorded
        their pids."""
        below = descendants(p.pid)
        for pid in [p.pid] + below:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
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
                self.end(p)
        self.kill_services()


def run_timed(argv, stdin_path, stdout_path=None, env=None, cwd=None, limit=600):
    """Runs argv with stdin from a file; returns (seconds, exit code). The
    child is killed by PID if it outlives limit."""
    with open(stdin_path, "rb") as fin:
        fout = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
        try:
            t0 = time.perf_counter()
            p = subprocess.Popen(argv, stdin=fin, stdout=fout, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
            try:
                rc = p.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                rc = "timeout"
            t1 = time.perf_counter()
        finally:
            if stdout_path:
                fout.close()
    return t1 - t0, rc


def wait_until(cond, limit, step=0.005):
    end = time.monotonic() + limit
    while True:
        if cond():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(step)


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def cpu_ms(pid):
    """CPU time used by pid so far, in ms: the scheduler's nanosecond
    account from /proc/PID/sched when the kernel has it, else utime+stime
    in clock ticks (10 ms granularity)."""
    try:
        with open(f"/proc/{pid}/sched") as f:
            for line in f:
                if line.startswith("se.sum_exec_runtime"):
                    return float(line.split(":")[1])
    except (OSError, ValueError):
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError):
        return 0.0


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
    xs = [x for x in xs if x is not None and x == x]
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


def read_pid(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


class Tree:
    """A scanner running a tree of n services."""

    def __init__(self, impl, reaper, work, n, tag):
        self.impl, self.reaper, self.n = impl, reaper, n
        self.dir = os.path.join(work, f"{impl.name}-{tag}")
        make_tree(self.dir, n, reaper.pidfile)
        self.t0 = time.monotonic()
        self.p = reaper.spawn(impl.scanner_argv(n) + [self.dir], env=impl.env(), cwd=self.dir)
        self.up_after = None

    def wait_up(self, limit):
        if wait_until(lambda: all_up(self.dir, self.n), limit, step=0.01):
            self.up_after = time.monotonic() - self.t0
        return self.up_after

    def supervisors(self):
        return [p for p in descendants(self.p.pid) if comm(p) == self.impl.supervisor]

    def tree_pids(self):
        """The scanner and its supervisors (not the services)."""
        return [self.p.pid] + self.supervisors()

    def end(self):
        self.reaper.end(self.p)
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------
# results


class Results:
    def __init__(self):
        self.rows = []  # (section, figure, impl, value, unit)
        self.about = {}  # section -> text printed under its heading

    def describe(self, section, text):
        self.about[section] = text

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
            names += [r[2] for r in rows if r[2] not in names and r[2] not in impl_names]
            names = list(dict.fromkeys(names))
            out.append(f"\n### {sec}\n")
            if sec in self.about:
                out.append(self.about[sec] + "\n")
            out.append("| figure | " + " | ".join(names) + " | ours / daemontools | ours / best peer |")
            out.append("|---|" + "---|" * (len(names) + 2))
            for fig, unit in figures:
                vals = {r[2]: r[3] for r in rows if r[1] == fig and r[4] == unit}
                cells = [fmt(vals.get(n)) for n in names]
                ratio_ref = ratio_best = ""
                ours = vals.get("ours")
                if unit != "lines" and isinstance(ours, (int, float)) and ours == ours:
                    peers = [v for k, v in vals.items()
                             if k not in ("ours", "cat") and isinstance(v, (int, float)) and v == v]
                    higher_better = unit in ("MB/s", "lines/s")
                    ref = vals.get("daemontools")
                    if isinstance(ref, (int, float)) and ref == ref and ref:
                        ratio_ref = f"{ours / ref:.2f}"
                    if peers:
                        best = max(peers) if higher_better else min(peers)
                        if best:
                            ratio_best = f"{ours / best:.2f}"
                out.append(f"| {fig} ({unit}) | " + " | ".join(cells) + f" | {ratio_ref} | {ratio_best} |")
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


# --------------------------------------------------------------------------
# supervision sections


def section_tree(impls, reaper, work, res, cfg):
    """Time until N services are up, memory per service (each tree on its
    own), then idle CPU of all trees of the first size running at once, in
    the same window."""
    impls = with_scanner(impls, "tree")
    if not impls:
        return
    for n in cfg["tree_sizes"]:
        sec = f"Supervision tree, {n} services"
        ups = {i.name: [] for i in impls}
        mem = {}
        for rep in range(cfg["reps"]):
            for impl in rotated(impls, rep):
                t = Tree(impl, reaper, work, n, f"{n}-{rep}")
                try:
                    up = t.wait_up(cfg["up_limit"])
                    if up is None:
                        note(f"{sec}: {impl.name}: not all up within {cfg['up_limit']} s")
                    ups[impl.name].append(up)
                    if rep == 0 and n == cfg["tree_sizes"][0]:
                        time.sleep(cfg["settle"])  # let start-up settle (supervise sleeps 1 s)
                        sups = t.supervisors()
                        m = [smaps(p, ("Private_Clean", "Private_Dirty", "Pss")) for p in sups]
                        mem[impl.name] = (
                            median([x["Private_Clean"] + x["Private_Dirty"] for x in m]),
                            median([x["Pss"] for x in m]),
                            smaps(t.p.pid, ("Pss",))["Pss"] / max(n, 1),
                        )
                finally:
                    t.end()
        for impl in impls:
            res.add(sec, "time until all up", impl.name, median(ups[impl.name]), "s")
        for impl in impls:
            if impl.name in mem:
                uss, pss, scan = mem[impl.name]
                res.add(sec, "supervisor USS per service", impl.name, uss, "kB")
                res.add(sec, "supervisor PSS per service", impl.name, pss, "kB")
                res.add(sec, "scanner PSS per service", impl.name, scan, "kB")
        if n == cfg["tree_sizes"][0]:
            idle_cpu(impls, reaper, work, res, cfg, n, sec)


def idle_cpu(impls, reaper, work, res, cfg, n, sec):
    trees = {}
    try:
        for impl in impls:
            trees[impl.name] = Tree(impl, reaper, work, n, f"idle-{n}")
        for impl in impls:
            if trees[impl.name].wait_up(cfg["up_limit"]) is None:
                note(f"{sec}: {impl.name}: tree not up for the idle window")
        time.sleep(cfg["settle"])
        procs = {name: t.tree_pids() for name, t in trees.items()}
        c0 = {name: sum(cpu_ms(p) for p in ps) for name, ps in procs.items()}
        w0 = time.monotonic()
        time.sleep(cfg["idle_secs"])
        window = time.monotonic() - w0
        c1 = {name: sum(cpu_ms(p) for p in ps) for name, ps in procs.items()}
        for impl in impls:
            res.add(sec, f"idle CPU of the tree ({cfg['idle_secs']} s window)", impl.name,
                    (c1[impl.name] - c0[impl.name]) * 60 / window, "ms/min")
    finally:
        for t in trees.values():
            t.end()


def section_link(impls, reaper, work, res, cfg):
    """All trees run at once; the same action is done on each in turn:
    new link -> up, restart command -> new process, down command -> gone,
    crash -> next start."""
    impls = with_scanner(impls, "pickup")
    if not impls:
        return
    sec = f"Pickup and restarts ({cfg['link_tree']} services running)"
    lat = {i.name: [] for i in impls}
    restart = {i.name: [] for i in impls}
    down = {i.name: [] for i in impls}
    crash = {i.name: [] for i in impls}
    trees = {}
    reps = cfg["link_reps"]
    try:
        for impl in impls:
            trees[impl.name] = Tree(impl, reaper, work, cfg["link_tree"], "link")
        for impl in impls:
            if trees[impl.name].wait_up(cfg["up_limit"]) is None:
                note(f"{sec}: {impl.name}: tree did not come up")
        time.sleep(cfg["settle"])

        # New link -> running. svscan and runsvdir look for new services
        # every 5 s, so the latency is mostly the wait for the next scan: the
        # links are made 5 s * (1 + 1/reps) apart, which spreads them evenly
        # over the scan period, and the median is the typical wait.
        # s6-svscan is told with s6-svscanctl -a, as its documentation says.
        spacing = 5.0 * (1 + 1 / reps)
        first = time.monotonic()
        for rep in range(reps):
            pause = first + rep * spacing - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            name = f"new{rep}"
            staged = {}
            for impl in impls:
                staged[impl.name] = os.path.join(work, f"stage-{impl.name}-{name}")
                make_service(staged[impl.name], RUN, reaper.pidfile)
            t0 = {}
            for impl in rotated(impls, rep):
                t0[impl.name] = time.monotonic()
                os.symlink(staged[impl.name], os.path.join(trees[impl.name].dir, name))
                if impl.name == "s6":
                    subprocess.run(["s6-svscanctl", "-a", trees[impl.name].dir])
            pending = {i.name for i in impls}
            end = time.monotonic() + 15
            while pending and time.monotonic() < end:
                for nm in list(pending):
                    if os.path.exists(os.path.join(staged[nm], "pid")):
                        lat[nm].append(time.monotonic() - t0[nm])
                        pending.discard(nm)
                time.sleep(0.001)
            for nm in pending:
                note(f"{sec}: {nm}: new link not up within 15 s")

        # restart command -> new process running
        for rep in range(reps):
            time.sleep(1.1)  # a service up for over a second restarts at once (supervise's 1 s pause)
            for impl in rotated(impls, rep):
                svc = os.path.join(trees[impl.name].dir, "s00000")
                pidf = os.path.join(svc, "pid")
                old = read_pid(pidf)
                t0 = time.monotonic()
                subprocess.run(impl.ctl["restart"] + [svc], env=impl.env())
                ok = wait_until(lambda: read_pid(pidf) not in ("", old), 10, step=0.001)
                restart[impl.name].append(time.monotonic() - t0 if ok else None)

        # down command -> process gone
        for rep in range(reps):
            for impl in rotated(impls, rep):
                svc = os.path.join(trees[impl.name].dir, f"s{rep + 1:05d}")
                pid = int(read_pid(os.path.join(svc, "pid")))
                t0 = time.monotonic()
                subprocess.run(impl.ctl["down"] + [svc], env=impl.env())
                ok = wait_until(lambda: not os.path.exists(f"/proc/{pid}") or comm(pid) != "sleep", 10, step=0.001)
                down[impl.name].append(time.monotonic() - t0 if ok else None)

        # crash -> next start: the interval between starts of a service
        # that exits at once, all trees at the same time
        starts = {}
        for impl in impls:
            staging = os.path.join(work, f"crash-{impl.name}")
            make_service(staging, CRASH, reaper.pidfile)
            starts[impl.name] = os.path.join(staging, "starts")
            os.symlink(staging, os.path.join(trees[impl.name].dir, "crash"))
            if impl.name == "s6":
                subprocess.run(["s6-svscanctl", "-a", trees[impl.name].dir])
        seen = {i.name: [] for i in impls}
        count = {i.name: 0 for i in impls}
        end = time.monotonic() + 10 + 1.5 * cfg["crash_starts"]
        while time.monotonic() < end and any(len(v) < cfg["crash_starts"] for v in seen.values()):
            for nm in seen:
                try:
                    with open(starts[nm]) as f:
                        c = f.read().count("\n")
                except OSError:
                    c = 0
                if c > count[nm]:
                    seen[nm].extend([time.monotonic()] * (c - count[nm]))
                    count[nm] = c
            time.sleep(0.001)
        for impl in impls:
            crash[impl.name] = [b - a for a, b in zip(seen[impl.name], seen[impl.name][1:]) if b > a]
            subprocess.run(impl.ctl["down"] + [os.path.join(trees[impl.name].dir, "crash")], env=impl.env())
    finally:
        for t in trees.values():
            t.end()
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
    """Per-call cost of the status/control tools on one running service,
    supervised by its own supervisor started directly (the peers'
    equivalents: runit's sv alarm/status, s6-svc -a, s6-svstat, s6-svok).
    `perf stat -e instructions` needs hardware counters, which VMs often
    lack: the instruction counts come from valgrind's callgrind."""
    sec = "Per-call cost of the control tools"
    impls = [i for i in impls if i.supervise and i.status]
    procs = {}
    dirs = {}
    try:
        for impl in impls:
            d = os.path.join(work, f"calls-{impl.name}")
            make_service(d, RUN, reaper.pidfile)
            dirs[impl.name] = d
            procs[impl.name] = reaper.spawn(impl.supervise + [d], env=impl.env(), cwd=work)
        for impl in impls:
            if not wait_until(lambda: os.path.exists(os.path.join(dirs[impl.name], "pid")), cfg["up_limit"]):
                note(f"{sec}: {impl.name}: service did not come up")
        time.sleep(1.5)
        if shutil.which("valgrind"):
            for impl in impls:
                for tool, argv in impl.status.items():
                    n = instructions(argv + [dirs[impl.name]], impl.env())
                    if n is not None:
                        res.add(sec, f"{tool} instructions", impl.name, n, "instr")
        else:
            note("valgrind not installed: no instruction counts, wall time only")
        # wall time, interleaved
        walls = {}
        for rnd in range(2):
            for impl in rotated(impls, rnd):
                for tool, argv in impl.status.items():
                    walls.setdefault((tool, impl.name), []).append(
                        wall_us(argv + [dirs[impl.name]], impl.env(), cfg["call_runs"]))
        tools = list(dict.fromkeys(t for impl in impls for t in impl.status))
        for tool in tools:
            for impl in impls:
                if (tool, impl.name) in walls:
                    res.add(sec, f"{tool} wall time", impl.name, median(walls[(tool, impl.name)]), "us")
    finally:
        for p in procs.values():
            reaper.end(p)
        for d in dirs.values():
            shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------
# logging and tai64n

# The ten `-` patterns of the qmail log/run in seed 001 (as in
# bench/logging.sh). They are written for stamped lines: the leading `* `
# skips over the TAI64N stamp that `t` puts in front of the line.
PATTERNS = [
    "* status: *", "* starting delivery *", "* delivery * success*",
    "* delivery * failure*", "* new msg *", "* info msg *", "* end msg *",
    "* bounce msg *",
    "* delivery * deferral: Sorry,_I_couldn't_find_any_host_by_that_name*",
    "* delivery * deferral: Sorry,_I_wasn't_able_to_establish_an_SMTP_*",
]


def unstamped(pat):
    """The pattern as it applies to the line without the stamp: s6-log and
    svlogd match the line before they stamp it. A TAI64N stamp has no
    space, so `* ` skips exactly the stamp and its space."""
    assert pat.startswith("* ")
    return pat[2:]


def ere(pat):
    """A multilog/svlogd pattern as an equivalent POSIX extended regexp
    for s6-log: `*` followed by c matches up to the first c (`[^c]*`), a
    trailing `*` matches the rest, anything else is literal; the whole
    line must match."""
    out = "^"
    for i, c in enumerate(pat):
        if c == "*":
            if i + 1 == len(pat):
                return out
            out += "[^" + pat[i + 1] + "]*"
        elif c in ".[]()*+?{}|^$\\":
            out += "\\" + c
        else:
            out += c
    return out + "$"


class Inputs:
    """Generated input files, made once per run in a tmpfs work dir."""

    def __init__(self, base):
        self.dir = tempfile.mkdtemp(prefix="dtrs-bench-logs-", dir=base)
        self.files = {}

    def get(self, kind, mix, mb):
        key = (kind, mix, mb)
        if key not in self.files:
            path = os.path.join(self.dir, f"{kind}-{mix}-{mb}.log")
            log(f"  generating {mb} MB of {kind} {mix} lines ...")
            subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen_logs.py"), kind, mix, str(mb), path],
                           check=True)
            self.files[key] = (path, os.path.getsize(path), count_lines([path]))
        return self.files[key]

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def count_lines(paths):
    n = 0
    for p in paths:
        with open(p, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                n += b.count(b"\n")
    return n


def logdir_files(d):
    """The log files of a log directory: current and the rotated @... files
    (multilog, s6-log and svlogd name them alike)."""
    try:
        return [os.path.join(d, f) for f in os.listdir(d) if f == "current" or f.startswith("@")]
    except OSError:
        return []


def loggers(ours):
    """(name, program, kind) of every logger that is present."""
    out = []
    for name, prog, kind in (("ours", f"{ours}/multilog", "multilog"), ("daemontools", "/usr/bin/multilog", "multilog"),
                             ("runit", "/usr/bin/svlogd", "svlogd"), ("s6", "/usr/bin/s6-log", "s6-log")):
        if executable(prog):
            out.append((name, prog, kind))
        else:
            note(f"logging: {prog} missing; its column is skipped")
    out.append(("cat", shutil.which("cat") or "/bin/cat", "cat"))
    return out


LOG_CONFIGS = [
    # name, stamp, patterns, size, expected line count
    ("t", True, False, 16777215, "input"),
    ("t + 10 patterns", True, True, 16777215, "reference"),
    ("rotation s1048576 n1000", False, False, 1048576, "input"),
    ("t + 10 patterns + rotation", True, True, 1048576, "reference"),
]


def logger_argv(kind, prog, config, d):
    """argv and, for svlogd, the contents of its config file. Every logger
    keeps up to 1000 files, so nothing is deleted and every line can be
    counted; without rotation the file size is multilog's maximum."""
    _, stamp, pats, size, _ = config
    if kind == "multilog":
        return [prog] + (["t"] if stamp else []) + (["-" + p for p in PATTERNS] if pats else []) + \
            [f"s{size}", "n1000", d], None
    if kind == "s6-log":
        # -l 0: no line length limit (the default, 8192, splits the rare long line)
        return [prog, "-l", "0"] + (["t"] if stamp else []) + \
            (["-" + ere(unstamped(p)) for p in PATTERNS] if pats else []) + [f"s{size}", "n1000", d], None
    if kind == "svlogd":
        conf = f"s{size}\nn1000\n" + ("".join("-" + unstamped(p) + "\n" for p in PATTERNS) if pats else "")
        return [prog] + (["-t"] if stamp else []) + [d], conf
    return [prog], None


def section_logging(impls, reaper, work, res, cfg):
    """Log throughput: our multilog, daemontools' multilog, s6-log, svlogd
    and `cat > file` on the same mail-style input, interleaved."""
    inputs = cfg["inputs"]
    path, size, lines = inputs.get("plain", "mail", cfg["log_mb"])
    progs = loggers(cfg["ours"])
    sec = "Logging"
    res.describe(sec, f"{size / 1e6:.0f} MB of mail lines ({lines} lines) into a log directory on "
                      f"{fs_of(inputs.dir)}; daemontools = its multilog, runit = svlogd, s6 = s6-log; "
                      f"lines/s counts input lines; medians of {cfg['log_reps']} interleaved runs.")
    times = {}  # (config, name) -> [s]
    counts = {}  # (config, name) -> set of line counts
    bad = set()
    d = os.path.join(inputs.dir, "logdir")
    catout = os.path.join(inputs.dir, "cat.out")
    for rep in range(cfg["log_reps"]):
        log(f"  repetition {rep + 1}/{cfg['log_reps']}")
        for config in LOG_CONFIGS:
            for name, prog, kind in rotated(progs, rep):
                shutil.rmtree(d, ignore_errors=True)
                argv, conf = logger_argv(kind, prog, config, "./logdir")
                if kind == "svlogd":
                    os.mkdir(d)
                    with open(os.path.join(d, "config"), "w") as f:
                        f.write(conf)
                secs, rc = run_timed(argv, path, catout if kind == "cat" else None, cwd=inputs.dir)
                n = count_lines([catout] if kind == "cat" else logdir_files(d))
                if rc != 0:
                    note(f"logging {config[0]}: {name} exited {rc}")
                    bad.add((config[0], name))
                times.setdefault((config[0], name), []).append(secs)
                counts.setdefault((config[0], name), set()).add(n)
                shutil.rmtree(d, ignore_errors=True)
                if kind == "cat":
                    os.unlink(catout)
    # line counts: every logger must keep every line, except where the
    # patterns deselect some: there the count must be the reference's
    for config in LOG_CONFIGS:
        cname, expect = config[0], config[4]
        want = lines
        if expect == "reference":
            ref = counts.get((cname, "daemontools")) or counts.get((cname, "ours"))
            want = min(ref) if ref else None
            if not counts.get((cname, "daemontools")):
                note(f"logging {cname}: no reference multilog, counts compared with ours")
        for name, prog, kind in progs:
            got = counts.get((cname, name), set())
            if kind == "cat" and expect == "reference":
                ok = got == {lines}
            else:
                ok = got == {want}
            if not ok:
                note(f"logging {cname}: {name} wrote {sorted(got)} lines, expected {want}; its figures are n/a")
                bad.add((cname, name))
    for config in LOG_CONFIGS:
        cname = config[0]
        for unit in ("MB/s", "lines/s"):
            for name, prog, kind in progs:
                t = median(times.get((cname, name), []))
                v = float("nan") if (cname, name) in bad or not t == t else \
                    (size / 1e6 / t if unit == "MB/s" else lines / t)
                res.add(sec, f"{cname}", name, v, unit)
        for name, prog, kind in progs:
            got = counts.get((cname, name), set())
            res.add(sec, f"{cname}: lines written", name, max(got) if got else None, "lines")


def section_tai64n(impls, reaper, work, res, cfg):
    """tai64n and tai64nlocal: ours, daemontools', s6's."""
    inputs = cfg["inputs"]
    ours = cfg["ours"]
    plain, psize, plines = inputs.get("plain", "mail", cfg["log_mb"])
    stamped, ssize, slines = inputs.get("stamped", "mail", cfg["log_mb"])
    sec = "tai64n and tai64nlocal"
    res.describe(sec, f"tai64n: {psize / 1e6:.0f} MB of mail lines ({plines} lines); tai64nlocal: "
                      f"{ssize / 1e6:.0f} MB of stamped mail lines ({slines} lines), TZ=Europe/Amsterdam; "
                      f"s6 = s6-tai64n, s6-tai64nlocal; medians of {cfg['log_reps']} interleaved runs.")
    env = dict(os.environ, TZ="Europe/Amsterdam")
    jobs = []  # (figure, name, prog, input, size, lines)
    for fig, prog_ours, prog_s6, inp, size, lines in (
            ("tai64n", "tai64n", "s6-tai64n", plain, psize, plines),
            ("tai64nlocal", "tai64nlocal", "s6-tai64nlocal", stamped, ssize, slines)):
        for name, prog in (("ours", f"{ours}/{prog_ours}"), ("daemontools", f"/usr/bin/{prog_ours}"),
                           ("s6", f"/usr/bin/{prog_s6}")):
            if executable(prog):
                jobs.append((fig, name, prog, inp, size, lines))
            else:
                note(f"tai64n: {prog} missing; skipped")
    out = os.path.join(inputs.dir, "tai.out")
    times, bad, sums = {}, set(), {}
    for rep in range(cfg["log_reps"]):
        for fig in ("tai64n", "tai64nlocal"):
            for fig_, name, prog, inp, size, lines in rotated([j for j in jobs if j[0] == fig], rep):
                secs, rc = run_timed([prog], inp, out, env=env)
                times.setdefault((fig, name), []).append(secs)
                n = count_lines([out])
                osize = os.path.getsize(out)
                # tai64n puts a 25-character label and a space before every line
                if rc != 0 or n != lines or (fig == "tai64n" and osize != size + 26 * lines):
                    if (fig, name) not in bad:
                        note(f"{fig}: {name} exit {rc}, {n} lines of {lines}, {osize} bytes; its figures are n/a")
                    bad.add((fig, name))
                if rep == 0 and fig == "tai64nlocal":
                    sums[name] = file_digest(out)
                os.unlink(out)
    if "ours" in sums and "daemontools" in sums and sums["ours"] != sums["daemontools"]:
        note("tai64nlocal: our output differs from daemontools'")
    if "s6" in sums and "daemontools" in sums and sums["s6"] != sums["daemontools"]:
        note("tai64nlocal: s6-tai64nlocal's output differs from daemontools' (s6 counts leap seconds in "
             "TAI64 labels, daemontools a fixed 10 s): line counts only")
    for fig in ("tai64n", "tai64nlocal"):
        for unit in ("MB/s", "lines/s"):
            for fig_, name, prog, inp, size, lines in [j for j in jobs if j[0] == fig]:
                t = median(times.get((fig, name), []))
                v = float("nan") if (fig, name) in bad else (size / 1e6 / t if unit == "MB/s" else lines / t)
                res.add(sec, fig, name, v, unit)


def fs_of(path):
    """The file system type of path, from /proc/mounts."""
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and (path == parts[1] or path.startswith(parts[1].rstrip("/") + "/")) \
                        and len(parts[1]) > len(best):
                    best, kind = parts[1], parts[2]
    except OSError:
        pass
    return f"{kind} ({best})"


def file_digest(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def section_idle(impls, reaper, work, res, cfg):
    """Only the idle CPU of the trees (the first tree size, 60 s window even
    in quick mode): all trees running at once, in the same window."""
    impls = with_scanner(impls, "idle")
    if impls:
        n = cfg["tree_sizes"][0]
        idle_cpu(impls, reaper, work, res, dict(cfg, idle_secs=60), n, f"Idle tree, {n} services")


SECTIONS = {
    "tree": section_tree,
    "idle": section_idle,
    "pickup": section_link,
    "calls": section_calls,
    "logging": section_logging,
    "tai64n": section_tai64n,
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
        cfg = dict(tree_sizes=[200, 1000], reps=3, up_limit=120, settle=2, idle_secs=60, link_tree=200,
                   link_reps=7, crash_starts=6, call_runs=200, log_mb=200, log_reps=3)
    else:
        cfg = dict(tree_sizes=[200], reps=2, up_limit=60, settle=1.5, idle_secs=10, link_tree=50, link_reps=3,
                   crash_starts=4, call_runs=100, log_mb=30, log_reps=5)
    only = [s for s in args.only.split(",") if s] or list(SECTIONS)
    for s in only:
        if s not in SECTIONS:
            ap.error(f"unknown section {s}; sections: {','.join(SECTIONS)}")
    ours = os.path.abspath(args.ours)
    cfg["ours"] = ours
    impls = implementations(ours)
    base = os.environ.get("BENCH_DIR") or ("/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    work = tempfile.mkdtemp(prefix="dtrs-bench-")
    reaper = Reaper(work)
    res = Results()
    t0 = time.monotonic()
    inputs = None
    try:
        if "logging" in only or "tai64n" in only:
            inputs = cfg["inputs"] = Inputs(base)
        for name in only:
            log(f"== {name}")
            SECTIONS[name](impls, reaper, work, res, cfg)
    finally:
        reaper.end_all()
        shutil.rmtree(work, ignore_errors=True)
        if inputs:
            inputs.remove()
    print(f"## Benchmarks ({'full' if args.full else 'quick'} mode, {time.strftime('%Y-%m-%d')}, "
          f"{os.cpu_count()} cores, ours = {ours}, {time.monotonic() - t0:.0f} s)")
    print(res.table([i.name for i in impls] + ["cat"]))
    if NOTES:
        print("\nNotes:\n")
        for n in NOTES:
            print(f"- {n}")
    print()
    print(res.machine())


if __name__ == "__main__":
    main()
