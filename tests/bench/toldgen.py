#!/usr/bin/env python3
"""toldgen.py - on a realtrace.py trace, a policy told the generator: how
far from MIN a policy may fall that knows every layer's popularity and
the reuse exactly, where A0 is no ceiling (tokens repeat the previous
token's experts; issue 19).

    tests/bench/toldgen.py TRACE SLOTS SEED REUSE [USES [POLICY]]

SEED and REUSE are realtrace.py's --seed and --reuse for TRACE. The next
token's experts depend only on this token's (realtrace.py's token()): an
expert of this token comes again with 1 - (1 - REUSE/k)^8 (k of its
experts), any expert by popularity with 1 - (1 - p)^(8 (1 - REUSE)).
Per layer, an even share of SLOTS; after the prompt the layer holds the
most probable experts; a decode miss evicts the least probable resident
when it is more probable itself (bypass for free). No pins or waves,
which flatters it most when a layer's share is below a token's 8
experts (2G). Prints the decode hit rate.

With USES (cachesim TRACE --slots SLOTS --uses USES), also where POLICY
(default lrfu) and min-lrfu hit and the told generator does, use by use:
by windows of 32 decoded tokens, by layer, by repeat (the expert was one
of the previous decoded token's in that layer) or not, and before or
after the 24th decoded token (when lrfu's repeat verdict can come first).
The last column is the told generator's lead in points of all decoded
uses."""
import collections
import math
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onlinea0  # noqa: E402  (the trace reader, serve)


def main():
    path, slots, seed, reuse = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    calls, moe = onlinea0.read(path)
    rnd = random.Random(seed)  # realtrace.py's per-layer popularity, drawn first
    weights = []
    for _ in moe:
        tau = rnd.uniform(24, 32)
        w = [math.exp(-r / tau) for r in range(128)]
        rnd.shuffle(w)
        weights.append(w)

    def probs(k, cur):
        tot, s = sum(weights[k]), set(cur)
        rep = 1 - (1 - reuse / len(s)) ** 8
        return [1 - (1 - (rep if e in s else 0)) * (1 - weights[k][e] / tot) ** (8 * (1 - reuse))
                for e in range(128)]

    hits = uses = 0
    told = {}
    for k, layer in enumerate(moe):
        q = slots // len(moe) + (k < slots % len(moe))
        cache = set()
        for ci, (prompt, r) in enumerate(calls):
            sel = r[layer]
            p = probs(k, sel[-8:] if prompt else sel)  # the next token follows this one
            if prompt:
                cache = set(sorted(range(128), key=lambda e: -p[e])[:q])
                continue
            for e in dict.fromkeys(sel):
                uses += 1
                told[(ci, k, e)] = onlinea0.serve(cache, q, e, lambda x: p[x])
                hits += told[(ci, k, e)]
    print("%s, %d slots: told the generator %.1f%%" % (path, slots, 100.0 * hits / max(uses, 1)))
    if len(sys.argv) > 5:
        split(calls, moe, told, sys.argv[5], sys.argv[6] if len(sys.argv) > 6 else "lrfu")


def split(calls, moe, told, uses_path, policy):
    """The told generator's hits next to POLICY's and min-lrfu's from
    cachesim's --uses file, use by use."""
    got = {policy: {}, "min-lrfu": {}}
    for line in open(uses_path):
        f = line.split()
        if f[0] in got:
            got[f[0]][(int(f[1]), int(f[2]), int(f[3]))] = int(f[4])
    for name, g in got.items():
        if set(g) != set(told):
            sys.exit("toldgen.py: %s's uses in %s are not the trace's decoded uses" % (name, uses_path))
    repeat, prev = {}, {}
    for ci, (prompt, r) in enumerate(calls):
        for k, layer in enumerate(moe):
            sel = r[layer]
            for e in set(sel) if not prompt else ():
                repeat[(ci, k, e)] = e in prev.get(k, ())
            prev[k] = set(sel[-8:])
    first = min(u[0] for u in told)
    n_all = len(told)

    def table(title, key):
        rows = collections.defaultdict(lambda: [0, 0, 0, 0])
        for u in told:
            a = rows[key(u)]
            a[0] += 1
            a[1] += got[policy][u]
            a[2] += told[u]
            a[3] += got["min-lrfu"][u]
        print("\n%s: uses, %s, told the generator, min-lrfu (%%), the told's lead (points of all)" % (title, policy))
        for k in sorted(rows):
            n, a, b, c = rows[k]
            print("  %-19s %6d %6.2f %6.2f %6.2f %+6.2f" % (k, n, 100.0 * a / n, 100.0 * b / n, 100.0 * c / n,
                                                         100.0 * (b - a) / n_all))
    table("all", lambda u: "all")
    table("decoded tokens by 32", lambda u: "%03d-%03d" % ((u[0] - first) // 32 * 32, (u[0] - first) // 32 * 32 + 31))
    table("repeat", lambda u: "repeat" if repeat[u] else "new")
    table("phase", lambda u: ("tokens 0-23" if u[0] - first < 24 else "tokens 24-") +
          (" repeat" if repeat[u] else " new"))
    table("layer", lambda u: "%02d" % u[1])


if __name__ == "__main__":
    main()
