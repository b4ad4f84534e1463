#!/usr/bin/env python3
"""Where a `SendMessages` cycle of `rustok-iggy serve` spends its time, batch
by batch (docs/benchmarks.md, "Session 14: where a 1,000 B batch's time
goes").

Usage: serve-phases.py TRACE

TRACE is the output of `perf trace -e recvfrom,pwrite64,writev -p <serve
pid> -o TRACE` taken while one producer (`iggy-bench pinned-producer`)
sends to a serve on the embedded log: each request is a 1-byte header read,
the rest of the header and the body in reads, one `pwrite` of the batch and
one `writev` of the reply. Prints the median and mean of each phase:

  receive  first header byte -> last body byte read
  process  last byte read -> pwrite (decode, verify, frame, checksum)
  pwrite   the write itself
  reply    pwrite done -> reply written
  client   reply written -> the next request's first byte
  cycle    one request's first byte -> the next one's
"""
import re
import statistics
import sys

LINE = re.compile(r"^\s*([\d.]+) \(\s*([\d.]+) ms\): \S+ (\w+)\((.*)\)\s+= (-?\d+)")


def phases(path):
    found = {name: [] for name in ("receive", "process", "pwrite", "reply", "client", "cycle")}
    header = last_read_end = pwrite_end = reply_end = None
    with open(path, encoding="utf-8", errors="replace") as trace:
        for line in trace:
            m = LINE.match(line)
            if not m:
                continue
            at, took, call, args, ret = float(m[1]), float(m[2]), m[3], m[4], int(m[5])
            if call == "recvfrom" and args.endswith("size: 1") and ret == 1:
                if reply_end is not None:
                    found["client"].append(at - reply_end)
                if header is not None:
                    found["cycle"].append(at - header)
                header, last_read_end = at, None
            elif call == "recvfrom" and ret > 0:
                last_read_end = at + took
            elif call == "pwrite64" and header is not None and last_read_end is not None:
                found["receive"].append(last_read_end - header)
                found["process"].append(at - last_read_end)
                found["pwrite"].append(took)
                pwrite_end = at + took
            elif call == "writev" and pwrite_end is not None:
                found["reply"].append(at - pwrite_end)
                reply_end, pwrite_end = at + took, None
    return found


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for name, values in phases(sys.argv[1]).items():
        if values:
            print(
                f"{name:8} n={len(values):5}  median {1000 * statistics.median(values):7.1f} us"
                f"  mean {1000 * statistics.mean(values):7.1f} us"
            )
