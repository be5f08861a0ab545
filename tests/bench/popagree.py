#!/usr/bin/env python3
"""popagree.py - does a trace's prompt foretell its decode popularity?
(issue 19, round seven)

    tests/bench/popagree.py TRACE:Q[,Q...] ...

Per MoE layer, a static cache of Q experts (Q: a layer's share of the
slots) filled by one estimate of popularity, and the share of the second
half of the decoded tokens' expert uses it would hit. The estimates:
  oracle  the second half's own counts (in-sample: the most any static
          choice can hit, A0's knowledge);
  dec1    the first half's decode counts (learning from decode alone);
  prompt  the prompt's counts (every row of every prompt chunk);
  mix     dec1 + a x prompt, a = (first-half decode uses)/(prompt uses),
          the prompt weighed as much as the first half in all;
and the same for the first half with the prompt only (early: what a cache
knows when decoding starts). Also the Spearman rank correlation of the
prompt's counts with the whole decode's, and of the two decode halves
with each other (the noise floor of a same-size sample), averaged over
layers. Prints one Markdown row per trace and Q."""
import sys


def read(path):
    used, n_expert, moe, calls = 8, 0, [], []
    for line in open(path):
        f = line.split()
        if not f or f[0].startswith("#"):
            continue
        if f[0] == "shape":
            n_expert, used = int(f[2]), int(f[3])
        elif f[0] == "moe" and not calls:
            moe = [int(x) for x in f[1:]]
        elif f[0] == "c":
            calls.append([f[1] == "p", int(f[2]), {}])
        elif f[0] == "r":
            calls[-1][2][int(f[1])] = [int(x) for x in f[2:]]
    return used, n_expert, moe, calls


def ranks(v):
    order = sorted(range(len(v)), key=lambda i: v[i])
    r = [0.0] * len(v)
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2
        i = j + 1
    return r


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    n = len(a)
    ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb) if va and vb else 0.0


def top(est, q):
    return set(sorted(range(len(est)), key=lambda e: (-est[e], e))[:q])


def cover(keep, counts):
    tot = sum(counts)
    return sum(counts[e] for e in keep) / tot if tot else 0.0


def main():
    print("| trace | Q a layer | 2nd half: oracle | dec1 | prompt | mix | 1st half: oracle | prompt | "
          "rho(prompt, decode) | rho(dec half 1, half 2) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for arg in sys.argv[1:]:
        path, qs = arg.split(":")
        used, n_expert, moe, calls = read(path)
        per = {}
        for layer in moe:
            pr = [0] * n_expert
            dec = []
            for p, n, sel in calls:
                if layer not in sel:
                    continue
                if p:
                    for e in sel[layer]:
                        pr[e] += 1
                else:
                    dec.append(sel[layer][:used])
            h = len(dec) // 2
            d1, d2, dall = [0] * n_expert, [0] * n_expert, [0] * n_expert
            for t, s in enumerate(dec):
                for e in s:
                    (d1 if t < h else d2)[e] += 1
                    dall[e] += 1
            a = sum(d1) / sum(pr) if sum(pr) else 0
            mix = [d1[e] + a * pr[e] for e in range(n_expert)]
            per[layer] = (pr, d1, d2, dall, mix)
        for q in (int(x) for x in qs.split(",")):
            acc = [0.0] * 8
            for layer in moe:
                pr, d1, d2, dall, mix = per[layer]
                acc[0] += cover(top(d2, q), d2)
                acc[1] += cover(top(d1, q), d2)
                acc[2] += cover(top(pr, q), d2)
                acc[3] += cover(top(mix, q), d2)
                acc[4] += cover(top(d1, q), d1)
                acc[5] += cover(top(pr, q), d1)
                acc[6] += spearman(pr, dall)
                acc[7] += spearman(d1, d2)
            n = len(moe)
            print("| %s | %d | %s | %.2f | %.2f |" % (path.split("/")[-1].replace(".trace", ""), q,
                  " | ".join("%.1f%%" % (100 * x / n) for x in acc[:6]), acc[6] / n, acc[7] / n))


main()
