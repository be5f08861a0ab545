#!/usr/bin/env python3
"""toldgen.py - on a realtrace.py trace, a policy told the generator: how
far from MIN a policy may fall that knows every layer's popularity and
the reuse exactly, where A0 is no ceiling (tokens repeat the previous
token's experts; issue 19).

    tests/bench/toldgen.py TRACE SLOTS SEED REUSE

SEED and REUSE are realtrace.py's --seed and --reuse for TRACE. The next
token's experts depend only on this token's (realtrace.py's token()): an
expert of this token comes again with 1 - (1 - REUSE/k)^8 (k of its
experts), any expert by popularity with 1 - (1 - p)^(8 (1 - REUSE)).
Per layer, an even share of SLOTS; after the prompt the layer holds the
most probable experts; a decode miss evicts the least probable resident
when it is more probable itself (bypass for free). No pins or waves,
which flatters it most when a layer's share is below a token's 8
experts (2G). Prints the decode hit rate."""
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
    for k, layer in enumerate(moe):
        q = slots // len(moe) + (k < slots % len(moe))
        cache = set()
        for prompt, r in calls:
            sel = r[layer]
            p = probs(k, sel[-8:] if prompt else sel)  # the next token follows this one
            if prompt:
                cache = set(sorted(range(128), key=lambda e: -p[e])[:q])
                continue
            for e in dict.fromkeys(sel):
                uses += 1
                hits += onlinea0.serve(cache, q, e, lambda x: p[x])
    print("%s, %d slots: told the generator %.1f%%" % (path, slots, 100.0 * hits / max(uses, 1)))


if __name__ == "__main__":
    main()
