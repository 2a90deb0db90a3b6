#!/usr/bin/env python3
"""Writes realistic log lines for bench/logging.sh.

gen_logs.py KIND MIX MB FILE

KIND  plain: lines as a service prints them
      stamped: the same lines with TAI64N labels 1-10 ms apart, as
      multilog t or tai64n would have written them
MIX   mail: qmail-send and tcpserver/qmail-smtpd lines (about 65 bytes)
      mixed: the mail lines, web access lines and application lines
      (about 110 bytes)
MB    about how many megabytes to write

Deterministic (fixed seed), so every run measures the same bytes.
"""
import random
import sys

rng = random.Random(76)
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.jp"]
PATHS = ["/", "/index.html", "/api/v1/items", "/login", "/static/app.js",
         "/images/logo.png", "/search?q=daemontools", "/feed.xml"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
          "curl/8.5.0", "Wget/1.21.4",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"]


def addr():
    return "%s@%s" % (rng.choice(USERS), rng.choice(DOMAINS))


def ip():
    return "192.0.2.%d" % rng.randint(1, 254)


def app_line(i):
    level = rng.choice(["INFO", "INFO", "INFO", "WARN", "DEBUG", "ERROR"])
    return "%s [worker-%d] %s request_id=%08x user=%s duration_ms=%d path=%s result=%s" % (
        level, rng.randint(1, 16), rng.choice(["db.query", "http.request", "cache.miss", "job.done"]),
        rng.randint(0, 1 << 32), rng.choice(USERS), rng.randint(1, 3000), rng.choice(PATHS),
        rng.choice(["ok", "ok", "timeout", "not_found"]))


def line(i):
    r = rng.random()
    if MIX == "mixed":
        if r < 0.45:
            r = rng.random() * 0.78
        elif r < 0.90:
            r = 0.78 + rng.random() * 0.219
        elif r < 0.9995:
            return app_line(i)
        else:
            r = 0.9995
    msg = 10000 + i // 7
    dl = 2000 + i // 5
    if r < 0.08:
        return "status: local %d/10 remote %d/20" % (rng.randint(0, 10), rng.randint(0, 20))
    if r < 0.16:
        return "new msg %d" % msg
    if r < 0.24:
        return "info msg %d: bytes %d from <%s> qp %d uid %d" % (
            msg, rng.randint(300, 90000), addr(), rng.randint(1000, 65000), rng.randint(80, 1200))
    if r < 0.32:
        return "starting delivery %d: msg %d to %s %s" % (
            dl, msg, rng.choice(["local", "remote"]), addr())
    if r < 0.40:
        return ("delivery %d: success: %s_accepted_message./Remote_host_said:"
                "_250_2.0.0_Ok:_queued_as_%X/" % (dl, ip(), rng.randint(0, 1 << 40)))
    if r < 0.43:
        return ("delivery %d: deferral: Sorry,_I_couldn't_find_any_host_by_that_name."
                "_(#4.1.2)/" % dl)
    if r < 0.45:
        return "delivery %d: failure: Sorry,_no_mailbox_here_by_that_name._(#5.1.1)/" % dl
    if r < 0.52:
        return "end msg %d" % msg
    if r < 0.53:
        return "bounce msg %d qp %d" % (msg, rng.randint(1000, 65000))
    if r < 0.60:
        return "tcpserver: status: %d/40" % rng.randint(0, 40)
    if r < 0.66:
        return "tcpserver: pid %d from %s" % (rng.randint(1000, 65000), ip())
    if r < 0.72:
        return "tcpserver: ok %d mail.example.com:192.0.2.1:25 :%s::%d" % (
            rng.randint(1000, 65000), ip(), rng.randint(1024, 65535))
    if r < 0.78:
        return "tcpserver: end %d status %d" % (rng.randint(1000, 65000), rng.choice([0, 0, 0, 256]))
    if r < 0.999:
        return '%s - - "GET %s HTTP/1.1" %d %d "-" "%s" rt=%.3f' % (
            ip(), rng.choice(PATHS), rng.choice([200, 200, 200, 304, 404, 500]),
            rng.randint(0, 200000), rng.choice(AGENTS), rng.random())
    # A rare long line: a JSON dump or a stack trace folded into one line.
    return "app: dump " + " ".join("k%d=%s" % (k, "v" * rng.randint(5, 40))
                                   for k in range(rng.randint(60, 200)))


MIX = "mail"


def main():
    global MIX
    kind, MIX, mb, path = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    target = int(mb * 1000 * 1000)
    size = 0
    i = 0
    # Unix time 1700000000 as a TAI64 label, microseconds counted up.
    usec = 1700000000 * 1000000
    out = []
    with open(path, "w", encoding="latin-1") as f:
        while size < target:
            text = line(i) + "\n"
            if kind == "stamped":
                usec += rng.randint(1000, 10000)
                text = "@%016x%08x %s" % (0x400000000000000a + usec // 1000000,
                                          (usec % 1000000) * 1000 + 500, text)
            out.append(text)
            size += len(text)
            i += 1
            if len(out) >= 10000:
                f.write("".join(out))
                out = []
        f.write("".join(out))


main()
