#!/usr/bin/env python3
"""onlinea0.py - A0 learned online: how close to A0 a policy can come that
learns each expert's popularity from the trace it serves (issue 19).

    tests/bench/onlinea0.py TRACE SLOTS [GENERATOR]

Per MoE layer, an even share of SLOTS (as cpol_init deals them). The
popularity estimate of an expert is its decode uses so far plus ALPHA
times its prompt rows (or the square root of them, as lrfu weighs a
prompt chunk); after the prompt the cache holds each layer's best
estimates; a decode miss takes a slot only when its estimate (this use
counted) beats the least one resident, and is served without a slot
otherwise. No pins, no waves, no decay: the textbook learner of the
independent reference model, with bypass for free. "told" is A0 itself
(the estimate is the whole trace's decode uses). With GENERATOR, the trace
irm.py twinned TRACE from, "told gen" is A0 told the probabilities TRACE
was drawn with (GENERATOR's decode shares, as irm.py twin draws them)
rather than TRACE's realised counts: the true A0 of the independent
reference model, which knows the popularity but not the sample's luck.
Prints decode hit rates."""
import collections
import math
import sys


def read(path):
    calls, moe = [], []
    for line in open(path):
        f = line.split()
        if not f:
            continue
        if f[0] == "moe":
            moe = [int(x) for x in f[1:]]
        elif f[0] == "c":
            calls.append((f[1] == "p", {}))
        elif f[0] == "r":
            calls[-1][1][int(f[1])] = [int(x) for x in f[2:]]
    return calls, moe


def serve(cache, q, e, val):
    """One decode use of e on a layer of q slots: a hit, a free slot taken,
    or the resident of least val (ties: the lowest id) replaced when e is
    worth more, else e served without a slot. Returns 1 on a hit."""
    if e in cache:
        return 1
    if len(cache) < q:
        cache.add(e)
        return 0
    worst = min(cache, key=lambda x: (val(x), x))
    if val(e) > val(worst):
        cache.remove(worst)
        cache.add(e)
    return 0


def run(calls, moe, slots, weigh, told=False, gen=None):
    hits = uses = 0
    for k, layer in enumerate(moe):
        q = slots // len(moe) + (k < slots % len(moe))
        est, dec, cache = collections.Counter(), collections.Counter(), set()
        for prompt, r in gen or calls:
            if not prompt and layer in r:
                dec.update(set(r[layer]))
        for prompt, r in calls:
            if layer not in r:
                continue
            rows = collections.Counter(r[layer])
            if prompt:
                for e, n in rows.items():
                    est[e] += weigh(n)
                cache = set(sorted(est, key=lambda e: (-est[e], e))[:q])
                continue
            for e in rows:
                uses += 1
                val = (lambda x: dec[x]) if told else (lambda x, e=e: est[x] + (x == e))
                hits += serve(cache, q, e, val)
            est.update(rows.keys())
    return 100.0 * hits / max(uses, 1)


def main():
    calls, moe = read(sys.argv[1])
    slots = int(sys.argv[2])
    out = ["told %.1f%%" % run(calls, moe, slots, lambda n: n, told=True)]
    if len(sys.argv) > 3:
        out.append("told gen %.1f%%" % run(calls, moe, slots, lambda n: n, told=True, gen=read(sys.argv[3])[0]))
    for a in (0, 0.1, 0.3, 1):
        out.append("alpha %g %.1f%%" % (a, run(calls, moe, slots, lambda n, a=a: a * n)))
    out.append("sqrt %.1f%%" % run(calls, moe, slots, math.sqrt))
    print("%s, %d slots: %s" % (sys.argv[1], slots, ", ".join(out)))


if __name__ == "__main__":
    main()
