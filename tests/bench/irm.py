#!/usr/bin/env python3
"""irm.py - is a routing trace the independent reference model (IRM)?
And its IRM twin, to replay next to it (issue 19, round six).

    tests/bench/irm.py reuse TRACE...            reuse by lag against IRM
    tests/bench/irm.py twin TRACE -o OUT [--seed S] [--shuffle]
    tests/bench/irm.py table ENGINE OUTDIR TRACE:slots=N,mem=M,...  ...

Under the IRM each token's experts of a layer are drawn independently of
every other token's, from a fixed per-layer popularity. Then, with p_e the
probability that a token uses expert e (its inclusion probability: a token
draws k = USED experts without replacement, so p_e is not k times a
router weight, and sum_e p_e = k), P(e used at t+L | e used at t) = p_e
at every lag L >= 1. Measured from the trace's own T decoded tokens, of
which n_e use e, the value to compare with is (n_e - 1) / (T - 1): token t
is one of the n_e (the permutation null, exact for a stationary order).

`reuse` prints, per MoE layer and pooled, the share of a decoded token's
experts that the token L back also used, and its ratio to that IRM value,
sum_e n_e (n_e - 1) / (T (T - 1) k), for L = 1..16, with the 2.5-97.5 %
band of the lag-1 ratio over 200 random orders of the same tokens. A
ratio of 1 within the band at every lag is IRM; above 1 at lag 1 only,
token-to-token reuse; above 1 at every lag and falling slowly, a
popularity that drifts (the order carries the phase, e.g. a chat's turn).
It also counts decoded tokens whose choices in every layer repeat an
earlier token's exactly (the same token in the same state).

`twin` writes a trace with the same header, the same calls (prompt chunks
and decoded tokens, same sizes, in the same order) and, per layer and
phase (prompt, decode), each expert's inclusion probability equal to its
share of the phase's tokens in TRACE; every token of the twin draws its k
experts independently of every other, k distinct, by randomized
systematic sampling (a random order of the experts, a uniform start, k
unit steps over the cumulated probabilities: exact inclusion
probabilities). --shuffle instead permutes each layer's decoded tokens
(and, apart, its prompt tokens) at random: the trace's own counts, a
random order. Prefetcher guesses are left out. Deterministic per seed.

`table` writes each trace's twins (shuffled; IRM seeds 1-3) to OUTDIR and
prints `heft-engine cachesim`'s decode hit rates of lrfu, a0 (told the
whole trace's popularity, inside lrfu's quotas), a0-pool, min-lrfu and
min on the trace and its twins at each cache size."""
import random
import sys

LAGS = 16


def read(path):
    head, calls, used, n_expert, moe = [], [], 8, 0, []
    for line in open(path):
        f = line.split()
        if not f or f[0].startswith("#"):
            continue
        if f[0] == "c":
            calls.append([f[1] == "p", int(f[2]), {}])
        elif f[0] == "r":
            calls[-1][2][int(f[1])] = [int(x) for x in f[2:]]
        elif f[0] == "n":
            continue
        elif not calls:
            head.append(line.rstrip("\n"))
            if f[0] == "shape":
                used, n_expert = int(f[3]), int(f[2])
            elif f[0] == "moe":
                moe = [int(x) for x in f[1:]]
    return head, calls, used, n_expert, moe


def tokens(calls, used, layer, prompt):
    """The phase's tokens of a layer, each a list of its experts."""
    out = []
    for p, n, sel in calls:
        if p == prompt and layer in sel:
            s = sel[layer]
            out += [s[i * used:(i + 1) * used] for i in range(n)]
    return out


def lagshares(sets, k):
    """Per lag 1..LAGS, experts reused from L tokens back, and the pairs."""
    hit = [0] * (LAGS + 1)
    pairs = [0] * (LAGS + 1)
    for lag in range(1, LAGS + 1):
        for t in range(lag, len(sets)):
            hit[lag] += len(sets[t] & sets[t - lag])
            pairs[lag] += k
    return hit, pairs


def reuse(paths):
    rng = random.Random(1)
    for path in paths:
        head, calls, k, n_expert, moe = read(path)
        print("## %s" % path)
        print("layer | T | lag 1 reuse | IRM | lag 1 ratio | null band (lag 1) | ratio lag 2 / 4 / 8 / 16 | mean ratio lags 2-16")
        tot_hit = [0] * (LAGS + 1)
        tot_pairs = [0] * (LAGS + 1)
        tot_exp = 0.0
        tot_null = []
        for layer in moe:
            dec = [set(s) for s in tokens(calls, k, layer, False)]
            T = len(dec)
            if T < LAGS + 2:
                continue
            cnt = [0] * n_expert
            for s in dec:
                for e in s:
                    cnt[e] += 1
            irm = sum(c * (c - 1) for c in cnt) / (T * (T - 1) * k)
            hit, pairs = lagshares(dec, k)
            ratio = [hit[L] / pairs[L] / irm if irm and pairs[L] else 0 for L in range(LAGS + 1)]
            null = []
            for _ in range(200):
                sh = dec[:]
                rng.shuffle(sh)
                h = sum(len(sh[t] & sh[t - 1]) for t in range(1, T))
                null.append(h / ((T - 1) * k) / irm)
            null.sort()
            print("%d | %d | %.1f%% | %.1f%% | %.2f | %.2f-%.2f | %.2f / %.2f / %.2f / %.2f | %.2f" % (
                layer, T, 100 * hit[1] / pairs[1], 100 * irm, ratio[1], null[5], null[194],
                ratio[2], ratio[4], ratio[8], ratio[16], sum(ratio[2:]) / (LAGS - 1)))
            for L in range(1, LAGS + 1):
                tot_hit[L] += hit[L]
                tot_pairs[L] += pairs[L]
            tot_exp += irm * pairs[1]
            tot_null.append((null, pairs[1] * irm))
        if not tot_pairs[1]:
            continue
        irm = tot_exp / tot_pairs[1]
        ratio = [tot_hit[L] / tot_pairs[L] / irm for L in range(1, LAGS + 1)]
        print("all | | %.1f%% | %.1f%% | %.2f | | %s |" % (
            100 * tot_hit[1] / tot_pairs[1], 100 * irm, ratio[0], " ".join("%.2f" % r for r in ratio[1:])))
        # exact repeats: a decoded token whose choices in every layer equal an earlier decoded token's
        dec = [tuple(tuple(sorted(sel[l][i * k:(i + 1) * k])) if l in sel else () for l in moe)
               for p, n, sel in calls if not p for i in range(n)]
        seen, rep = set(), 0
        for d in dec:
            rep += d in seen
            seen.add(d)
        print("decoded tokens %d; repeating an earlier decoded token's routing in every layer: %d (%.1f%%)\n" % (
            len(dec), rep, 100 * rep / max(len(dec), 1)))


def sysdraw(rng, probs, k):
    """k distinct experts, expert e included with probability probs[e]
    (sum k, each <= 1): randomized systematic sampling."""
    order = list(range(len(probs)))
    rng.shuffle(order)
    u = rng.random()
    out, acc, step = [], 0.0, u
    for e in order:
        acc += probs[e]
        while step < acc - 1e-12 and len(out) < k:
            out.append(e)
            step += 1.0
    while len(out) < k:  # rounding at the very end: the last experts
        for e in reversed(order):
            if e not in out and probs[e] > 0:
                out.append(e)
                break
    return out


def twin(path, outpath, seed, shuffle):
    head, calls, k, n_expert, moe = read(path)
    rng = random.Random(seed)
    new = [[p, n, {}] for p, n, sel in calls]
    for layer in moe:
        for prompt in (True, False):
            toks = tokens(calls, k, layer, prompt)
            if not toks:
                continue
            if shuffle:
                rng.shuffle(toks)
                gen = iter(toks)
                draw = lambda: next(gen)
            else:
                cnt = [0] * n_expert
                for s in toks:
                    for e in s:
                        cnt[e] += 1
                probs = [c / len(toks) for c in cnt]
                draw = lambda: sysdraw(rng, probs, k)
            for (p, n, sel), (_, _, nsel) in zip(calls, new):
                if p == prompt and layer in sel:
                    nsel[layer] = [e for _ in range(n) for e in draw()]
    with open(outpath, "w") as f:
        f.write("\n".join(head) + "\n")
        f.write("# irm.py twin of %s, seed %d%s\n" % (path, seed, ", shuffled" if shuffle else ""))
        for p, n, sel in new:
            f.write("c %s %d\n" % ("p" if p else "d", n))
            for layer in moe:
                if layer in sel:
                    f.write("r %d %s\n" % (layer, " ".join(map(str, sel[layer]))))


def table(engine, outdir, specs, seeds=3):
    """specs: TRACE:ARG,ARG,... (ARG a cachesim size: --slots N or --mem M
    written slots=N or mem=M). Replays each trace, its shuffled twin and
    its IRM twins (seeds 1..seeds) at each size."""
    import json
    import os
    import subprocess
    names = ["lrfu", "a0", "a0-pool", "min-lrfu", "min"]
    print("| trace | cache | which | " + " | ".join(names) + " | lrfu/min-lrfu | a0/min-lrfu | lrfu/a0 |")
    print("|---|---|---|" + "---|" * (len(names) + 3))
    for spec in specs:
        path, sizes = spec.split(":")
        base = os.path.basename(path).rsplit(".", 1)[0]
        kinds = [("trace", path)]
        out = os.path.join(outdir, base + "-shuffled.trace")
        twin(path, out, 1, True)
        kinds.append(("shuffled", out))
        for s in range(1, seeds + 1):
            out = os.path.join(outdir, "%s-irm%d.trace" % (base, s))
            twin(path, out, s, False)
            kinds.append(("IRM seed %d" % s, out))
        for size in sizes.split(","):
            what, n = size.split("=")
            for kind, t in kinds:
                o = json.loads(subprocess.run([engine, "cachesim", t, "--" + what, n, "--json"], check=True,
                                              stdout=subprocess.PIPE).stdout)
                p = {q["name"]: q["decode_hit_rate"] for q in o["policies"]}
                print("| %s | --%s %s | %s | %s | %.3f | %.3f | %.3f |" % (
                    base, what, n, kind, " | ".join("%.1f%%" % (100 * p[x]) for x in names),
                    p["lrfu"] / p["min-lrfu"], p["a0"] / p["min-lrfu"], p["lrfu"] / p["a0"]), flush=True)


def main(argv):
    if len(argv) >= 4 and argv[0] == "table":
        table(argv[1], argv[2], argv[3:])
        return 0
    if len(argv) >= 2 and argv[0] == "reuse":
        reuse(argv[1:])
        return 0
    if len(argv) >= 4 and argv[0] == "twin" and "-o" in argv:
        i = argv.index("-o")
        seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 1
        twin(argv[1], argv[i + 1], seed, "--shuffle" in argv)
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
