#!/bin/sh
# cachesim.sh - routing traces and the cache simulator (issue 19):
#   - Belady's MIN on hand-made traces whose optimum is known (the
#     textbook reference string: 9 misses with 3 slots, LRU 12), and A0
#     (the most used experts, told by the whole trace) and Belady with
#     bypass likewise; lrfu-admit admits by counts on a steady router only;
#   - the engine's own hits, measured on a synthetic MoE model in stream
#     mode (--no-prefetch --no-warm: nothing but the policy decides) under
#     three budgets and each policy, equal the replay of its trace, in
#     total and per layer; MIN hits at least as often as every policy;
#   - --mem SIZE finds the slots the traced run had for that budget;
#     --prior TRACE starts the replay warm;
#   - with the prefetcher on, the trace holds its guesses and cachesim
#     reports their share of MIN's misses; bench writes traces too.
set -u
: "${HEFT_ENGINE:?}"
command -v python3 >/dev/null 2>&1 || { echo "cachesim: python3 is needed to read the JSON; skipping"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-cachesim.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
export XDG_CACHE_HOME="$tmp/xdg"

# field JSON NAME KEY: KEY of the policy NAME in cachesim's JSON
field() {
	python3 -c 'import json,sys
o = json.load(open(sys.argv[1]))
p = [p for p in o["policies"] if p["name"] == sys.argv[2]][0]
print(p[sys.argv[3]])' "$@"
}

# A one-layer trace, one expert per token: the reference string.
{
	echo "heft-routing-trace 1"
	echo "shape 1 8 1"
	echo "moe 0"
	for e in 7 0 1 2 0 3 0 4 2 3 0 3 2 1 2 0 1 7 0 1; do
		echo "c d 1"
		echo "r 0 $e"
	done
} >"$tmp/ref.trace"
"$HEFT_ENGINE" cachesim "$tmp/ref.trace" --slots 3 --json >"$tmp/ref.json" 2>"$tmp/err" ||
	fail "cachesim ref.trace: $(cat "$tmp/err")"
[ "$(field "$tmp/ref.json" min misses)" = 9 ] || fail "MIN: $(field "$tmp/ref.json" min misses) misses, not 9"
[ "$(field "$tmp/ref.json" min-quota misses)" = 9 ] || fail "MIN with one layer's quota: not 9 misses"
[ "$(field "$tmp/ref.json" lru misses)" = 12 ] || fail "LRU: $(field "$tmp/ref.json" lru misses) misses, not 12"
[ "$(field "$tmp/ref.json" lrfu default)" = True ] || fail "lrfu is not marked the default"

# lrfu follows, per layer, the better of its two shadows (LRU, counts).
# One layer, 4 slots. shift: 0-3 used 200 times over, then 8-11: recency
# catches the new set at once, counts keep the old favourites. scan: hot
# 0-2 between two cold experts each round: LRU misses every hot use, counts
# keep the hot three.
shift=$(python3 -c 'print(" ".join(["0 1 2 3"] * 200 + ["8 9 10 11"] * 100))')
scan=$(python3 -c 'print(" ".join("0 1 2 %d %d" % (20 + 2 * (i % 40), 21 + 2 * (i % 40)) for i in range(200)))')
for t in shift scan; do
	eval "seq=\$$t"
	{
		echo "heft-routing-trace 1"
		echo "shape 1 128 1"
		echo "moe 0"
		for e in $seq; do
			echo "c d 1"
			echo "r 0 $e"
		done
	} >"$tmp/$t.trace"
	"$HEFT_ENGINE" cachesim "$tmp/$t.trace" --slots 4 --json >"$tmp/$t.json" 2>"$tmp/err" ||
		fail "cachesim $t.trace: $(cat "$tmp/err")"
done
[ "$(field "$tmp/shift.json" lrfu misses)" -le $(($(field "$tmp/shift.json" layer-lru misses) + 8)) ] ||
	fail "shift: lrfu $(field "$tmp/shift.json" lrfu misses) misses, LRU $(field "$tmp/shift.json" layer-lru misses)"
[ "$(field "$tmp/scan.json" lrfu hits)" -ge $(($(field "$tmp/scan.json" freq hits) * 9 / 10)) ] &&
	[ "$(field "$tmp/scan.json" lrfu hits)" -gt $(($(field "$tmp/scan.json" layer-lru hits) + 300)) ] ||
	fail "scan: lrfu $(field "$tmp/scan.json" lrfu hits) hits, freq $(field "$tmp/scan.json" freq hits), LRU $(field "$tmp/scan.json" layer-lru hits)"

# lrfu tells, per layer, a router drawing from a steady popularity (a token
# shares as many experts with the previous one as with one 8 back: the
# counts rule) from one repeating the previous token's experts.
for kind in steady repeat; do
	python3 - "$kind" >"$tmp/$kind.trace" <<'PY'
import math, random, sys
rnd = random.Random(5)
w = [math.exp(-r / 6) for r in range(32)]
print("heft-routing-trace 1\nshape 2 32 4\nmoe 0 1")
prev = [[], []]
for t in range(300):
    print("c d 1")
    for l in range(2):
        sel = []
        while len(sel) < 4:
            pool = [e for e in prev[l] if e not in sel]
            if sys.argv[1] == "repeat" and pool and rnd.random() < 0.7:
                sel.append(rnd.choice(pool))
            else:
                e = rnd.choices(range(32), w)[0]
                if e not in sel:
                    sel.append(e)
        prev[l] = sel
        print("r %d %s" % (l, " ".join(map(str, sel))))
PY
	"$HEFT_ENGINE" cachesim "$tmp/$kind.trace" --slots 16 --policy lrfu --json >"$tmp/$kind.json" 2>"$tmp/err" ||
		fail "cachesim $kind.trace: $(cat "$tmp/err")"
done
steady=$(python3 -c 'import json,sys
for f in sys.argv[1:]:
    p = [p for p in json.load(open(f))["policies"] if p["name"] == "lrfu"][0]
    print(" ".join(str(l.get("steady")) for l in p["layers"]), end=" / ")' "$tmp/steady.json" "$tmp/repeat.json")
[ "$steady" = "True True / False False / " ] || fail "lrfu's steady verdicts (steady / repeat trace): $steady"
# and the repeating router as such (where, with a quota of three tokens'
# experts or more, popularity without the repeats rules), never the steady one
repeats=$(python3 -c 'import json,sys
for f in sys.argv[1:]:
    p = [p for p in json.load(open(f))["policies"] if p["name"] == "lrfu"][0]
    print(" ".join(str(l.get("repeats")) for l in p["layers"]), end=" / ")' "$tmp/steady.json" "$tmp/repeat.json")
[ "$repeats" = "False False / True True / " ] || fail "lrfu's repeat verdicts (steady / repeat trace): $repeats"
# lrfu-admit (A0's admission by lrfu's counts) acts on the steady router
# only: it misses less there, and exactly as often as lrfu on the repeating
# one (admitting by counts on every layer: 765 misses against 274).
m_lrfu=$(field "$tmp/steady.json" lrfu misses) m_adm=$(field "$tmp/steady.json" lrfu-admit misses)
[ "$m_adm" -lt "$m_lrfu" ] || fail "steady: lrfu-admit $m_adm misses, lrfu $m_lrfu"
m_lrfu=$(field "$tmp/repeat.json" lrfu misses) m_adm=$(field "$tmp/repeat.json" lrfu-admit misses)
[ "$m_adm" = "$m_lrfu" ] || fail "repeat: lrfu-admit $m_adm misses, lrfu $m_lrfu"

# Two layers, two slots: layer 0 always wants expert 0, layer 1 alternates
# 1 and 2. Some expert is missing at every layer-1 visit after the first
# two (three experts, two slots): the optimum is T + 1 misses for T tokens,
# keeping layer 0's expert.
{
	echo "heft-routing-trace 1"
	echo "# hand-made"
	echo "shape 2 4 1"
	echo "moe 0 1"
	for t in 1 2 3 4 5 6 7 8; do
		echo "c d 1"
		echo "r 0 0"
		echo "r 1 $((1 + t % 2))"
	done
} >"$tmp/two.trace"
"$HEFT_ENGINE" cachesim "$tmp/two.trace" --slots 2 --json >"$tmp/two.json" 2>"$tmp/err" ||
	fail "cachesim two.trace: $(cat "$tmp/err")"
[ "$(field "$tmp/two.json" min misses)" = 9 ] || fail "MIN on two layers: $(field "$tmp/two.json" min misses) misses, not 9"
[ "$(field "$tmp/two.json" min hits)" = 7 ] || fail "MIN on two layers: not 7 hits"

# A0: told each expert's uses over the whole trace, it keeps the most used
# and admits a missed expert only when it is used more often than the least
# used resident. By hand, 2 slots: 2 and 3 fill them, 0 and 1 (4 uses each)
# displace them, the later 2 and 3 are not admitted: 6 misses (demand MIN,
# which must admit, has 8).
{
	echo "heft-routing-trace 1"
	echo "shape 1 8 1"
	echo "moe 0"
	for e in 2 3 0 1 0 1 2 0 1 3 0 1; do
		echo "c d 1"
		echo "r 0 $e"
	done
} >"$tmp/a0.trace"
"$HEFT_ENGINE" cachesim "$tmp/a0.trace" --slots 2 --json >"$tmp/a0.json" 2>"$tmp/err" ||
	fail "cachesim a0.trace: $(cat "$tmp/err")"
for p in a0 a0-quota a0-pool; do
	[ "$(field "$tmp/a0.json" $p misses)" = 6 ] || fail "$p on a0.trace: $(field "$tmp/a0.json" $p misses) misses, not 6"
done
# And on a shuffled trace of 16 experts used 32, 30, ..., 2 times (no ties),
# 4 slots, against A0 computed here.
python3 - "$tmp/irm.trace" >"$tmp/irm.want" <<'PY'
import random, sys
random.seed(7)
seq = [e for e in range(16) for _ in range(2 * (16 - e))]
random.shuffle(seq)
with open(sys.argv[1], "w") as f:
    f.write("heft-routing-trace 1\nshape 1 16 1\nmoe 0\n")
    for e in seq:
        f.write("c d 1\nr 0 %d\n" % e)
uses = {e: seq.count(e) for e in set(seq)}
held, misses = set(), 0
for e in seq:
    if e in held:
        continue
    misses += 1
    if len(held) < 4:
        held.add(e)
    elif uses[e] > min(uses[h] for h in held):
        held.remove(min(held, key=lambda h: uses[h]))
        held.add(e)
# Belady with bypass: a miss whose next use is no sooner than every
# resident's is served without a slot
def nxt(i, e):
    return next((j for j in range(i + 1, len(seq)) if seq[j] == e), len(seq))
held, bmisses = set(), 0
for i, e in enumerate(seq):
    if e in held:
        continue
    bmisses += 1
    if len(held) < 4:
        held.add(e)
        continue
    far = max(held, key=lambda h: nxt(i, h))
    if nxt(i, far) > nxt(i, e):
        held.remove(far)
        held.add(e)
print(misses, bmisses)
PY
"$HEFT_ENGINE" cachesim "$tmp/irm.trace" --slots 4 --json >"$tmp/irm.json" 2>"$tmp/err" ||
	fail "cachesim irm.trace: $(cat "$tmp/err")"
read -r a0_want bypass_want <"$tmp/irm.want"
for p in a0 a0-pool; do
	[ "$(field "$tmp/irm.json" $p misses)" = "$a0_want" ] ||
		fail "$p on irm.trace: $(field "$tmp/irm.json" $p misses) misses, A0 has $a0_want"
done
for p in min-bypass min-lrfu-bypass; do
	[ "$(field "$tmp/irm.json" $p misses)" = "$bypass_want" ] ||
		fail "$p on irm.trace: $(field "$tmp/irm.json" $p misses) misses, Belady with bypass has $bypass_want"
done
[ "$bypass_want" -lt "$(field "$tmp/irm.json" min misses)" ] ||
	fail "irm.trace: bypassing saves MIN nothing ($bypass_want misses): the check above proves little"

# --prior: the hot list a run of the prior trace leaves (5 and 6 three
# times each, halved on reading) fills the cache before the replay, as the
# engine's warm start does: 5 6 5 6 then hits 4 times, cold 2.
tr() { # layer-0 experts, one decoded token each
	echo "heft-routing-trace 1"
	echo "shape 1 8 1"
	echo "moe 0"
	for e in "$@"; do
		echo "c d 1"
		echo "r 0 $e"
	done
}
tr 5 5 5 6 6 6 >"$tmp/prior.trace"
tr 5 6 5 6 >"$tmp/after.trace"
"$HEFT_ENGINE" cachesim "$tmp/after.trace" --slots 2 --prior "$tmp/prior.trace" --json >"$tmp/warm.json" 2>"$tmp/err" ||
	fail "cachesim --prior: $(cat "$tmp/err")"
"$HEFT_ENGINE" cachesim "$tmp/after.trace" --slots 2 --json >"$tmp/cold.json" 2>"$tmp/err" ||
	fail "cachesim cold: $(cat "$tmp/err")"
for p in lrfu lru freq; do
	[ "$(field "$tmp/warm.json" $p hits)" = 4 ] || fail "--prior: $p hits $(field "$tmp/warm.json" $p hits) times, not 4"
	[ "$(field "$tmp/cold.json" $p hits)" = 2 ] || fail "cold: $p hits $(field "$tmp/cold.json" $p hits) times, not 2"
done
printf 'heft-routing-trace 1\nshape 2 8 1\nmoe 0 1\n' >"$tmp/other.trace"
"$HEFT_ENGINE" cachesim "$tmp/after.trace" --slots 2 --prior "$tmp/other.trace" >/dev/null 2>&1 &&
	fail "--prior of another shape accepted"

# A bad trace is refused, naming its line.
printf 'heft-routing-trace 1\nshape 1 4 1\nmoe 0\nc d 1\nr 0 9\n' >"$tmp/bad.trace"
"$HEFT_ENGINE" cachesim "$tmp/bad.trace" --slots 2 >/dev/null 2>"$tmp/err" && fail "an expert id out of range accepted"
grep -q "line 5" "$tmp/err" || fail "bad trace: the message does not name line 5: $(cat "$tmp/err")"

# The engine against its replay.
model=$tmp/moe.gguf
"$HEFT_ENGINE" synth -q --arch qwen3moe --embd 256 --layers 4 --heads 4 --kv-heads 2 --head-dim 64 --ff 256 \
	--experts 32 --experts-used 4 --expert-ff 128 --vocab 512 --type Q4_0 -o "$model" 2>"$tmp/err" ||
	{ fail "synth: $(cat "$tmp/err")"; echo "cachesim: $fails failures"; exit 1; }
tokens=$(seq -s, 1 40)
for mem in min 27M 28.5M; do
	for pol in lrfu layer-lru lru lfu freq; do
		x=$tmp/$mem-$pol
		"$HEFT_ENGINE" run "$model" --tokens "$tokens" -n 40 -b 16 -t 2 --mem "$mem" --io stream --no-prefetch \
			--no-warm --cache-policy "$pol" --trace-routing "$x.trace" --stats-json "$x.stats" \
			>/dev/null 2>"$tmp/err" || { fail "run $mem $pol: $(tail -1 "$tmp/err")"; continue; }
		"$HEFT_ENGINE" cachesim "$x.trace" --json >"$x.sim" 2>"$tmp/err" ||
			{ fail "cachesim $mem $pol: $(cat "$tmp/err")"; continue; }
		python3 - "$x.stats" "$x.sim" "$pol" >"$tmp/cmp" <<'EOF' || fail "$mem $pol: $(cat "$tmp/cmp")"
import json, sys
st = json.load(open(sys.argv[1]))
sim = json.load(open(sys.argv[2]))
pol = {p["name"]: p for p in sim["policies"]}
me, best = pol[sys.argv[3]], pol["min"]
bad = []
if sim["slots"] != st["cache_slots"]:
    bad.append("slots %d, the run had %d" % (sim["slots"], st["cache_slots"]))
if (me["hits"], me["misses"]) != (st["cache_hits"], st["cache_misses"]):
    bad.append("replay %d hits %d misses, engine %d %d" % (me["hits"], me["misses"], st["cache_hits"], st["cache_misses"]))
eng = [(l["hits"], l["misses"]) for l in st["layers"] if l["hits"] + l["misses"]]
rep = [(l["hits"], l["misses"]) for l in me["layers"]]
if eng != rep:
    bad.append("per layer: replay %s, engine %s" % (rep, eng))
for p in sim["policies"]:
    # A0, lrfu-admit and the *-bypass MINs serve the misses they do not
    # admit without a slot: not demand paging, so they may beat demand MIN
    # on a cache this small, but not MIN that may bypass too
    free = p["name"].startswith("a0") or p["name"] == "lrfu-admit" or p["name"].endswith("-bypass")
    if p["hits"] > (pol["min-bypass"] if free else best)["hits"]:
        bad.append("%s hits more often than MIN" % p["name"])
if me["hits"] + me["misses"] == 0:
    bad.append("no lookups")
print("; ".join(bad))
sys.exit(1 if bad else 0)
EOF
	done
done
# The replays above must not all be trivial: some budget has hits.
[ "$(field "$tmp/28.5M-lrfu.sim" lrfu hits)" -gt 0 ] 2>/dev/null || fail "28.5M: the default policy never hit"

# --mem SIZE: the traced run's plan gives the slots of that budget.
s_run=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cache_slots"])' "$tmp/27M-lru.stats")
"$HEFT_ENGINE" cachesim "$tmp/28.5M-lru.trace" --mem 27M --json >"$tmp/mem.json" 2>"$tmp/err" || fail "--mem: $(cat "$tmp/err")"
s_sim=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["slots"])' "$tmp/mem.json")
[ "$s_sim" = "$s_run" ] || fail "--mem 27M: $s_sim slots, a run at 27M had $s_run"

# --uses FILE: a line per decoded use and policy, its hits the JSON's.
"$HEFT_ENGINE" cachesim "$tmp/28.5M-lru.trace" --json --uses "$tmp/uses" >"$tmp/uses.json" 2>"$tmp/err" ||
	fail "--uses: $(cat "$tmp/err")"
msg=$(python3 - "$tmp/uses.json" "$tmp/uses" <<'EOF2'
import collections, json, sys
sim = json.load(open(sys.argv[1]))
n, h = collections.Counter(), collections.Counter()
for line in open(sys.argv[2]):
    f = line.split()
    n[f[0]] += 1
    h[f[0]] += int(f[4])
bad = []
for p in sim["policies"]:
    if n[p["name"]] != sim["decode_lookups"] or abs(h[p["name"]] / max(n[p["name"]], 1) - p["decode_hit_rate"]) > 1e-9:
        bad.append("%s: %d uses, %d hits, against %d at %.6f" % (p["name"], n[p["name"]], h[p["name"]],
                                                                  sim["decode_lookups"], p["decode_hit_rate"]))
if not sim["decode_lookups"]:
    bad.append("no decoded uses")
print("; ".join(bad))
EOF2
) || fail "--uses: the check failed"
[ -z "$msg" ] || fail "--uses: $msg"

# The prefetcher's guesses, and bench's trace.
"$HEFT_ENGINE" run "$model" --tokens "$tokens" -n 8 -t 2 --mem 27M --io stream --no-warm --trace-routing "$tmp/pf.trace" \
	>/dev/null 2>"$tmp/err" || fail "run with prefetch: $(tail -1 "$tmp/err")"
grep -q '^n ' "$tmp/pf.trace" || fail "no prefetcher guesses in the trace"
"$HEFT_ENGINE" cachesim "$tmp/pf.trace" --json >"$tmp/pf.json" 2>"$tmp/err" || fail "cachesim pf: $(cat "$tmp/err")"
grep -q '"prefetch_share"' "$tmp/pf.json" || fail "no prefetch_share"
"$HEFT_ENGINE" bench "$model" -p 8 -n 4 -t 2 --trace-routing "$tmp/bench.trace" >/dev/null 2>"$tmp/err" ||
	fail "bench --trace-routing: $(tail -1 "$tmp/err")"
[ "$(grep -c '^c d 1$' "$tmp/bench.trace" 2>/dev/null)" -ge 4 ] || fail "bench's trace lacks its decoded tokens"
grep -q '^part 0 ' "$tmp/bench.trace" || fail "the trace does not name the model's identity"

echo "cachesim: $fails failures"
[ $fails -eq 0 ]
