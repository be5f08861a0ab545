#!/usr/bin/env python3
"""tracereuse.py - does a routing trace's order say more than its popularity?

    tests/bench/tracereuse.py TRACE...

Per trace (engine/rtrace.h's text format), the share of a decoded token's
experts that the previous decoded token also chose in the same layer,
against the share a random other decoded token (at least two away) chose.
Equal shares mean the tokens draw independently from a popularity: then
the best online policy keeps the most popular experts, and Belady's MIN's
lead over it is knowledge of the future no online policy can have
(issue 19, tests/bench/RESULTS.md). Deterministic (seed 1)."""
import random
import sys


def decoded(path):
    calls, cur, used = [], None, 1
    for line in open(path):
        f = line.split()
        if not f:
            continue
        if f[0] == "shape":
            used = int(f[3])
        elif f[0] == "c":
            cur = {} if f[1] == "d" else None
            if cur is not None:
                calls.append(cur)
        elif f[0] == "r" and cur is not None:
            cur[int(f[1])] = set(map(int, f[2:]))
    return calls, used


for path in sys.argv[1:]:
    dec, used = decoded(path)
    rng = random.Random(1)
    adj = rnd = n = 0
    for t in range(1, len(dec)):
        u = rng.randrange(len(dec))
        while abs(u - t) < 2 and len(dec) > 4:
            u = rng.randrange(len(dec))
        for layer, now in dec[t].items():
            if layer in dec[t - 1] and layer in dec[u]:
                adj += len(now & dec[t - 1][layer])
                rnd += len(now & dec[u][layer])
                n += used
    print("%s: %d decoded tokens; previous token's experts %.1f%%, a random decoded token's %.1f%%" % (
        path, len(dec), 100 * adj / max(n, 1), 100 * rnd / max(n, 1)))
