#!/bin/sh
# giants.sh - DeepSeek V3/R1, Kimi K2 and GLM-4.6 at 1.6 bits on this
# machine: per-layer decode time measured on real cuts, full-model tokens
# per minute projected at each --mem budget.
#
#   tests/bench/giants.sh
#
# Needs root (memory cgroups, dropping caches). Per model (--like NAME
# --preset UD-IQ1_S, real shapes), files made under $HEFT_BENCH_DIR when
# missing and deleted again at the end unless KEEP=1 (files that were
# already there are never deleted):
#   FULL  the whole model written with `synth --sparse`: header only, its
#         data a hole (130 GB apparent, a few MB on disk). Only `inspect
#         --mem` reads it: the full model's exact memory plan per budget.
#   CUT   the leading dense layers + CUT_MOE MoE layers (the largest of 4,
#         3, 2 for which CUT and REF fit in DISK_CAP bytes), real data.
#   REF   the leading dense layers + 1 MoE layer, real data.
# Method (tests/bench/RESULTS.md has it in words):
#   1. FULL's plan at each budget B of BUDGETS: k streamed layers (their
#      attention/shared-expert/dense bytes S read per token), n_slots cache
#      slots (f = n_slots / n_experts), cold expert bytes per token E.
#   2. CUT and REF are run at budgets chosen (by searching `inspect --mem`)
#      so that each MoE layer has the same cache share as in FULL (slots =
#      f x their experts, at least the plan's minimum) and so that either no
#      layer or every MoE layer has its dense bytes streamed (--stream-layers
#      forces the latter: left to itself a small model's plan skips from no
#      layer to several, the first costing two layer buffers). Differences
#      give the time of one MoE layer, plain (t_plain) and with its dense
#      bytes streamed (t_sdense), and the rest (base: dense layers, output
#      head, embedding): T_full = base + (n_moe - k) t_plain + k t_sdense.
#      Every run: page cache dropped, `heft-engine bench -p 1 -n N --io
#      stream --mem BUDGET --no-warm` in a memory cgroup of BUDGET + 5 %
#      (tests/bench/cgroup-run); medians over REPS runs.
#   3. Cross-check, the bytes model: compute C from in-RAM runs of CUT and
#      REF (same differencing), reads D = S + m E (m: the cut's measured
#      expert bytes read over cold bytes), disk rate R from
#      tests/bench/diskread (1 MiB O_DIRECT reads, queue depth 16):
#      no overlap C + D/R, perfect overlap max(C, D/R).
#   4. Budget check: CUT decoding at --mem CHECK (4G) under a cgroup limit
#      of CHECK + 5 %: no OOM kill, peak RSS <= CHECK.
# Prints Markdown tables; raw JSON lines go to $OUT.
#
# Environment: HEFT_ENGINE, HEFT_BENCH_DIR (default /var/tmp/heft-bench),
# MODELS ("deepseek-v3 kimi-k2 glm-4.6"), PRESET (UD-IQ1_S), BUDGETS
# ("16G 8G 4G"), CHECK (4G), N (decoded tokens, 20), REPS (3), THREADS (2),
# CUT_MOE (default: chosen by DISK_CAP, 15000000000 bytes), KEEP (0),
# OUT (giants-results.jsonl).
set -u
here=$(cd "$(dirname "$0")" && pwd)
engine=${HEFT_ENGINE:-$here/../../heft-engine}
[ "$(id -u)" -eq 0 ] || { echo "giants.sh: needs root (cgroups, dropping caches)"; exit 77; }
[ -x "$engine" ] || { echo "giants.sh: $engine is not built"; exit 2; }
command -v python3 >/dev/null || { echo "giants.sh: needs python3"; exit 77; }
export GIANTS_ENGINE="$engine" GIANTS_HERE="$here"
export GIANTS_DISKREAD="${DISKREAD:-$(dirname "$engine")/tests/bench/diskread}"
exec python3 - "$@" <<'EOF'
import json, os, shutil, statistics, subprocess, sys, tempfile, time

E = os.environ
engine, here, diskread = E["GIANTS_ENGINE"], E["GIANTS_HERE"], E["GIANTS_DISKREAD"]
bench_dir = E.get("HEFT_BENCH_DIR", "/var/tmp/heft-bench")
models = E.get("MODELS", "deepseek-v3 kimi-k2 glm-4.6").split()
preset = E.get("PRESET", "UD-IQ1_S")
N, REPS, T = int(E.get("N", "20")), int(E.get("REPS", "3")), E.get("THREADS", "2")
KEEP, DISK_CAP = E.get("KEEP", "0") == "1", float(E.get("DISK_CAP", "15000000000"))
OUT = E.get("OUT", "giants-results.jsonl")
GiB = 1 << 30


def size_of(s):
    u = s[-1].upper()
    m = {"K": 1 << 10, "M": 1 << 20, "G": GiB, "T": 1 << 40}.get(u)
    return int(float(s[:-1]) * m) if m else int(s)


BUDGETS = [size_of(b) for b in E.get("BUDGETS", "16G 8G 4G").split()]
CHECK = size_of(E.get("CHECK", "4G"))
tmp = tempfile.mkdtemp(prefix="heft-giants.")
made = []  # files this run created, deleted at the end unless KEEP=1
out = open(OUT, "w")


def say(*a):
    print("giants.sh:", *a, file=sys.stderr, flush=True)


def sh(args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)


def record(row):
    out.write(json.dumps(row) + "\n")
    out.flush()


def inspect(path, budget=None):
    args = [engine, "inspect", "--json"]
    if budget is not None:
        args += ["--mem", budget, "--io", "stream", "--threads", T]
    r = sh(args + [path])
    if r.returncode:
        sys.exit("giants.sh: inspect %s: %s" % (path, r.stderr.strip()))
    return json.loads(r.stdout)


def plan(path, budget):
    return inspect(path, budget)["plan"]


def plan_or_none(path, budget, extra=()):
    """The plan, or None when the budget is refused (below the minimum)."""
    r = sh([engine, "inspect", "--json", "--mem", budget, "--io", "stream", "--threads", T] + list(extra) + [path])
    return json.loads(r.stdout)["plan"] if r.returncode == 0 else None


def dry_bytes(like, layers):
    r = sh([engine, "synth", "--like", like, "--preset", preset, "--layers", layers, "--dry-run"])
    if r.returncode:
        sys.exit("giants.sh: synth --dry-run: " + r.stderr.strip())
    return int(r.stdout.split("(")[1].split()[0])


def synth(path, like, extra, sparse=False):
    if os.path.exists(path):
        return
    st = os.statvfs(bench_dir)
    need = 0 if sparse else dry_bytes(like, extra[extra.index("--layers") + 1])
    if need + (4 << 30) > st.f_bavail * st.f_frsize:
        sys.exit("giants.sh: not enough disk for %s (%.1f GiB + 4 GiB margin)" % (path, need / GiB))
    say("making", path, "(%.1f GiB)" % (need / GiB) if need else "(sparse)")
    made.append(path)
    r = sh([engine, "synth", "-q", "--like", like, "--preset", preset] + extra +
           (["--sparse"] if sparse else []) + ["-o", path])
    if r.returncode:
        sys.exit("giants.sh: synth %s: %s" % (path, r.stderr.strip()))


def cleanup(paths):
    for p in paths:
        if p in made and not KEEP and os.path.exists(p):
            os.unlink(p)
            say("deleted", p)


def cpu_pressure():
    try:
        for line in open("/proc/pressure/cpu"):
            if line.startswith("some"):
                return int(line.split("total=")[1])
    except OSError:
        return None


def run(label, path, budget, io="stream", n=N, cgroup=True, extra=()):
    """One bench run; returns its stats row (with 'ok')."""
    for attempt in (1, 2):
        if io == "stream":
            sh([here + "/dropcaches"])
        st, cg = tmp + "/st.json", tmp + "/cg.json"
        for f in (st, cg):
            if os.path.exists(f):
                os.unlink(f)
        cmd = [engine, "bench", path, "-p", 1, "-n", n, "-t", T, "--io", io, "--mem", budget, "--no-warm",
               "--stats-json", st] + list(extra)
        if cgroup:
            cmd = [here + "/cgroup-run", "--report", cg, int(budget * 1.05), "--"] + cmd
        load, p0, t0 = os.getloadavg()[0], cpu_pressure(), time.time()
        r = sh(cmd)
        wall, p1 = time.time() - t0, cpu_pressure()
        row = json.load(open(st)) if os.path.exists(st) and os.path.getsize(st) else {}
        row["cgroup"] = json.load(open(cg)) if os.path.exists(cg) else {}
        row.update(label=label, file=os.path.basename(path), budget=budget, exit=r.returncode, load1=load,
                   cpu_pressure=(p1 - p0) / 1e6 / wall if p0 is not None and p1 is not None else None)
        row["ok"] = r.returncode == 0 and "decode_s" in row
        if row["ok"]:
            row["s_per_token"] = row["decode_s"] / row["decode_tokens"]
            toks = row["decode_tokens"] + 1  # the untimed first decode step reads too
            row["bytes_per_token"] = (row["run_read_bytes"] - row.get("prefill_bytes_read", 0)) / toks
            acc = row["cache_hits"] + row["cache_misses"]
            # hits that were not read ahead
            row["cache_hit_rate"] = (row["cache_hits"] - row["prefetch_hits"]) / acc if acc else 0.0
            row["io_wait_share"] = row["io_wait_total_ms"] / 1000 / (row["prefill_s"] + row["decode_s"])
        record(row)
        oom = row["cgroup"].get("oom_kills") or r.returncode == 137
        say("%s: exit %d%s %s" % (label, r.returncode, " OOM" if oom else "",
                                 "%.3f s/token" % row["s_per_token"] if row["ok"] else r.stderr.strip()[-200:]))
        if row["ok"] or oom:
            return row
    return row


def find_budget(path, k, slots):
    """Smallest budget (MiB steps) whose plan streams exactly the last k
    layers' dense weights (forced with --stream-layers when k > 0: a plan
    left to itself jumps past small k, the first streamed layer costing two
    layer buffers) with at least `slots` cache slots; the plan as well.
    None when out of reach."""
    extra = ("--stream-layers", str(k)) if k else ()
    # "min" is the minimum for 512-token prompt chunks; a decode run's plan
    # takes smaller chunks at smaller budgets, so search from far below and
    # count a refused budget as too small.
    lo = 64
    hi = (os.path.getsize(path) >> 20) + 16384
    ok = lambda p: p is not None and p["stream_layers"] <= k and p["n_slots"] >= slots
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(plan_or_none(path, mid << 20, extra)):
            hi = mid
        else:
            lo = mid + 1
    p = plan_or_none(path, lo << 20, extra)
    return (lo << 20, p) if ok(p) and p["stream_layers"] == k else (None, p)


def med(rows, key="s_per_token"):
    v = [r[key] for r in rows if r.get("ok")]
    return statistics.median(v) if v else float("nan")


def ceiling(path):
    if not os.access(diskread, os.X_OK):
        return None
    sh([here + "/dropcaches"])
    r = sh([diskread, path, "-b", 1024, "-q", 16, "-s", 5, "--backend", "threads"])
    for line in r.stdout.splitlines():
        f = line.split()
        if f and f[0] == "threads":
            record({"row": "disk ceiling", "file": os.path.basename(path), "gib_s": float(f[3])})
            return float(f[3]) * GiB
    return None


results = []
os.makedirs(bench_dir, exist_ok=True)
for like in models:
    full = "%s/giants-%s-%s-full-sparse.gguf" % (bench_dir, like, preset)
    synth(full, like, [], sparse=True)
    info = inspect(full)
    hp, split = info["hyperparameters"], info["split"]
    lead, per_layer = hp.get("leading_dense_block_count", 0), split["experts"]
    n_moe = plan(full, BUDGETS[0])["n_experts"] // per_layer  # GLM's MTP layer is never run
    cut_moe = int(E["CUT_MOE"]) if E.get("CUT_MOE") else next(
        (c for c in (4, 3, 2) if dry_bytes(like, lead + c) + dry_bytes(like, lead + 1) <= DISK_CAP), 2)
    cut = "%s/giants-%s-%s-L%d.gguf" % (bench_dir, like, preset, lead + cut_moe)
    ref = "%s/giants-%s-%s-L%d.gguf" % (bench_dir, like, preset, lead + 1)
    synth(cut, like, ["--layers", str(lead + cut_moe)])
    synth(ref, like, ["--layers", str(lead + 1)])
    R = ceiling(cut)

    # compute alone: everything in RAM
    ram = {"cut": [], "ref": []}
    for i in range(REPS):
        for name, path in (("cut", cut), ("ref", ref)):
            ram[name].append(run("%s %s ram" % (like, name), path, 20 * GiB, io="ram", cgroup=False))
    t_ram = (med(ram["cut"]) - med(ram["ref"])) / (cut_moe - 1)
    base_ram = med(ram["ref"]) - t_ram

    # streaming, per budget of the full model
    cache = {}

    def measure(tag, path, k, slots):
        b, p = find_budget(path, k, slots)
        if b is None:
            say("%s: no budget streams %d layers of %s" % (tag, k, path))
            return None
        key = (path, b, k)
        extra = ("--stream-layers", str(k)) if k else ()
        if key not in cache:
            cache[key] = {"budget": b, "plan": p,
                          "rows": [run("%s %s" % (like, tag), path, b, extra=extra) for _ in range(REPS)]}
        return cache[key]

    for B in BUDGETS:
        fp = plan(full, B)
        k, f = fp["stream_layers"], fp["n_slots"] / fp["n_experts"]
        s_cut, s_ref = (max(8, round(f * per_layer * c)) for c in (cut_moe, 1))
        a0, r0 = measure("cut plain", cut, 0, s_cut), measure("ref plain", ref, 0, s_ref)
        if not a0 or not r0:
            continue
        t_plain = (med(a0["rows"]) - med(r0["rows"])) / (cut_moe - 1)
        base = med(r0["rows"]) - t_plain
        t_sd, a1 = float("nan"), None
        if k:
            a1, r1 = measure("cut streamed", cut, cut_moe, s_cut), measure("ref streamed", ref, 1, s_ref)
            if a1 and r1:
                t_sd = (med(a1["rows"]) - med(r1["rows"])) / (cut_moe - 1)
        T_full = base + (n_moe - k) * t_plain + k * t_sd if k else base + n_moe * t_plain
        # the bytes model
        S = fp["layer_stream_bytes"]
        Ef = fp["cold_read_per_token"] - S
        m = med(a0["rows"], "bytes_per_token") / a0["plan"]["cold_read_per_token"]
        C = base_ram + n_moe * t_ram
        D = S + m * Ef
        io = D / R if R else float("nan")
        # if routing were uniform, hits = the cache's share f of the experts
        Du = S + (1 - f) * Ef
        iou = Du / R if R else float("nan")
        res = {"row": "projection", "model": like, "budget": B, "plan": fp, "f": f, "k": k, "n_moe": n_moe,
               "cut_moe": cut_moe, "s_cut": s_cut, "t_plain": t_plain, "t_sdense": t_sd, "base": base,
               "T_full": T_full, "tok_min": 60 / T_full if T_full > 0 else float("nan"),
               "cut_budget": a0["budget"], "cut_slots": a0["plan"]["n_slots"],
               "cut_stream_budget": a1["budget"] if a1 else None,
               "hit": med(a0["rows"], "cache_hit_rate"), "hit_all": med(a0["rows"], "hit_rate"),
               "miss_bytes": m, "io_wait": med(a0["rows"], "io_wait_share"),
               "read_mb_s": med(a0["rows"], "read_mb_s"), "C": C, "t_ram": t_ram, "base_ram": base_ram,
               "D": D, "R": R, "T_sum": C + io, "T_max": max(C, io),
               "D_unif": Du, "T_unif_sum": C + iou, "T_unif_max": max(C, iou),
               "load": statistics.median([r["load1"] for r in a0["rows"] + r0["rows"]])}
        record(res)
        results.append(res)
        say("%s at %s: %.1f s/token projected (%.1f tok/min)" % (like, B >> 30, T_full, res["tok_min"]))

    chk = run("%s cut check" % like, cut, CHECK)
    chk_ok = chk["ok"] and not chk["cgroup"].get("oom_kills") and chk.get("rss_peak", 1 << 62) <= CHECK
    results.append({"row": "check", "model": like, "ok": chk_ok, "peak_rss": chk.get("rss_peak"),
                    "cg_peak": chk["cgroup"].get("peak"), "oom": chk["cgroup"].get("oom_kills"),
                    "tok_s": chk.get("decode_tok_s"), "file": os.path.basename(cut)})
    record(results[-1])
    if R:
        ceiling(cut)
    cleanup([cut, ref, full])

shutil.rmtree(tmp, ignore_errors=True)
G = lambda b: "%.2f" % (b / GiB)
print("Full model per budget (plan of the sparse full file; per-layer times measured on the cuts):\n")
print("| model | --mem | full plan: resident GiB, streamed layers (GiB/token), cache slots (f) | cut runs: budget GiB, slots | "
      "per MoE layer ms: plain / dense streamed | base ms | cache hits (all hits) | projected s/token | tok/min |"
      " bytes model: C s + D GiB / R GiB/s | no overlap / overlap tok/min |"
      " uniform routing (hits = f): D GiB, no overlap / overlap tok/min | load |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in results:
    if r["row"] != "projection":
        continue
    p = r["plan"]
    print("| %s | %dG | %s, %d (%s), %d (%.2f%%) | %s, %d%s | %.0f / %s | %.0f | %.0f%% (%.0f%%) | %.2f | %.1f | "
          "%.2f + %s / %s | %.1f / %.1f | %s, %.1f / %.1f | %.1f |" % (
              r["model"], r["budget"] >> 30, G(p["resident_bytes"]), r["k"], G(p["layer_stream_bytes"]),
              p["n_slots"], 100 * r["f"], G(r["cut_budget"]), r["cut_slots"],
              "; streamed %s" % G(r["cut_stream_budget"]) if r["cut_stream_budget"] else "",
              1e3 * r["t_plain"], "%.0f" % (1e3 * r["t_sdense"]) if r["k"] else "-", 1e3 * r["base"],
              100 * r["hit"], 100 * r["hit_all"], r["T_full"], r["tok_min"], r["C"], G(r["D"]),
              G(r["R"]) if r["R"] else "?", 60 / r["T_sum"], 60 / r["T_max"],
              G(r["D_unif"]), 60 / r["T_unif_sum"], 60 / r["T_unif_max"], r["load"]))
print("\nIn RAM (compute only): per MoE layer / base, ms")
seen = set()
for r in results:
    if r["row"] == "projection" and r["model"] not in seen:
        seen.add(r["model"])
        print("- %s (cut: %d MoE layers): %.0f / %.0f" % (r["model"], r["cut_moe"], 1e3 * r["t_ram"], 1e3 * r["base_ram"]))
print("\nBudget check (cut decoding at --mem %s, cgroup limit +5%%):" % E.get("CHECK", "4G"))
for r in results:
    if r["row"] == "check":
        print("- %s %s: %s; peak RSS %s MiB, cgroup peak %s MiB, OOM kills %s, %.2f tok/s" % (
            r["model"], r["file"], "held" if r["ok"] else "NOT held",
            r["peak_rss"] and r["peak_rss"] >> 20, r["cg_peak"] and r["cg_peak"] >> 20, r["oom"], r["tok_s"] or 0))
EOF
