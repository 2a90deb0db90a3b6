#!/usr/bin/env python3
"""Writes a multilog directory of stamped lines for bench/svlog.sh.

gen_logdir.py BODY MB DIR

BODY  a file of log lines (bench/gen_logs.py plain mixed), used in turn
MB    about how many megabytes the directory holds
DIR   the log directory to create: archives of 16777215 bytes at most,
      closed at the first newline past 16777215 - 2000 bytes as multilog
      closes them, named after the time of their last line plus 1 ms
      (the rotation), and a `current` with the rest (about half a file)

Lines are TAI64N-stamped 1 ms apart from 2026-01-01 00:00:00 UTC.
Prints the Unix times of the first and the last line.
"""
import os
import sys

SIZE = 16777215
START = 1767225600  # 2026-01-01T00:00:00Z


def label(usec):
    return "@%016x%08x" % (0x400000000000000a + usec // 1000000, (usec % 1000000) * 1000 + 500)


def main():
    body_path, mb, d = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    with open(body_path, encoding="latin-1") as f:
        body = f.read().splitlines(True)
    os.makedirs(d, exist_ok=True)
    target = int(mb * 1000 * 1000)
    total = 0
    usec = START * 1000000
    first = usec
    i = 0
    # The last file is `current`, about half full.
    while True:
        lines = []
        size = 0
        last_full = target - total < SIZE
        limit = SIZE // 2 if last_full else SIZE - 2000
        while size < limit:
            text = label(usec) + " " + body[i % len(body)]
            lines.append(text)
            size += len(text)
            usec += 1000
            i += 1
        data = "".join(lines).encode("latin-1")
        total += len(data)
        if last_full:
            with open(os.path.join(d, "current"), "wb") as f:
                f.write(data)
            break
        name = label(usec) + ".s"  # rotated 1 ms after the last line
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print(first // 1000000, (usec - 1000) // 1000000)


main()
