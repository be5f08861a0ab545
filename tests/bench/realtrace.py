#!/usr/bin/env python3
"""realtrace.py - a routing trace (engine/rtrace.h's text format) drawn
with the statistics published for real MoE routers, for cache policies to
be judged on where no real model's trace can be recorded.

    tests/bench/realtrace.py [-o FILE] [--seed N] [--prompt N] [--decode N]
                             [--reuse R] [--layers L] [--route-seed N]

Shape: the bench model's (24 layers, 128 experts, 8 used a token; the
plan line gives its slot and fixed bytes so that cachesim's --mem 2G/4G/8G
buy the slots they buy there). Per layer:
  popularity  expert of rank r weighs exp(-r / tau), tau drawn per layer in
              [24, 32], ranks shuffled per layer. Drawing 8 of 128 by these
              weights needs 58-66 experts for 90% of a layer's routing and
              gives the top expert 3-4%: Qwen3-30B-A3B's measured per-layer
              concentration (65/128 experts for 90% on diverse text, 58/128
              on one domain; tests/bench/RESULTS.md cites the source);
  reuse       each of a token's 8 choices repeats one of the previous
              token's choices in that layer with probability REUSE (default
              0.5), else is drawn by popularity. No per-token reuse figure
              could be read in the literature: REUSE is set so that a plain
              LRU at 10-25% of the experts hits 53-76%, the hit rates peers
              report for real routers (RESULTS.md).
A prompt of --prompt tokens (one prefill call), then --decode tokens.
--route-seed N draws the routes with seed N, the popularity with --seed:
another run of the same model, whose hot list may warm the next.
Deterministic for a seed."""
import argparse
import math
import random
import sys

E, K = 128, 8


def draw(rnd, weights, n, exclude):
    """n distinct experts by weight (Gumbel top-n), none of exclude."""
    keys = [(-math.log(rnd.random()) / w, e) for e, w in enumerate(weights) if e not in exclude]
    keys.sort()
    return [e for _, e in keys[:n]]


def token(rnd, weights, prev, reuse):
    sel = []
    for _ in range(K):
        pool = [e for e in prev if e not in sel]
        if pool and rnd.random() < reuse:
            sel.append(rnd.choice(pool))
        else:
            sel += draw(rnd, weights, 1, set(sel))
    return sel


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", default="-")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--decode", type=int, default=256)
    ap.add_argument("--reuse", type=float, default=0.5)
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--route-seed", type=int, default=None,
                    help="draw the tokens' routes with this seed, the popularity with --seed: "
                    "another run of the same model (the warm hot list's case)")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    L = a.layers
    weights = []
    for _ in range(L):
        tau = rnd.uniform(24, 32)
        w = [math.exp(-r / tau) for r in range(E)]
        rnd.shuffle(w)
        weights.append(w)
    if a.route_seed is not None:
        rnd = random.Random(a.route_seed)
    out = sys.stdout if a.output == "-" else open(a.output, "w")
    out.write("heft-routing-trace 1\n")
    out.write("# realtrace.py --seed %d --prompt %d --decode %d --reuse %g --layers %d\n" %
              (a.seed, a.prompt, a.decode, a.reuse, L))
    if a.route_seed is not None:
        out.write("# --route-seed %d\n" % a.route_seed)
    out.write("model realtrace\n")
    out.write("shape %d %d %d\n" % (L, E, K))
    out.write("moe %s\n" % " ".join(str(l) for l in range(L)))
    out.write("plan stream 5320704 1152677632 590 layer-lru\n")
    prev = [[] for _ in range(L)]
    calls = ([a.prompt] if a.prompt else []) + [1] * a.decode
    for ci, n in enumerate(calls):
        out.write("c %s %d\n" % ("p" if ci == 0 and a.prompt else "d", n))
        for l in range(L):
            sel = []
            for _ in range(n):
                prev[l] = token(rnd, weights[l], prev[l], a.reuse)
                sel += prev[l]
            out.write("r %d %s\n" % (l, " ".join(map(str, sel))))
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()
