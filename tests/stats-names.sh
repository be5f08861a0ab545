#!/bin/sh
# stats-names.sh - one name per number (engine/stats.h): the weight
# store's and the process's numbers carry the same names in --stats-json,
# in the protocol's stats event and on /metrics; every number of the stats
# event is on /metrics, with a HELP line and the kind the table gives; the
# old names (hits, misses, peak_rss, n_slots, prefetch_useful...) are gone.
#
# Every server started is killed on exit; every wait is bounded.
# Environment: HEFT_ENGINE.
set -u
. "$(dirname "$0")/serve-port.sh"
: "${HEFT_ENGINE:?}"
for t in python3 curl; do
	if ! command -v $t >/dev/null 2>&1; then
		echo "stats-names: $t is needed; skipping"
		exit 77
	fi
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-stats-names.XXXXXX") || exit 99
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
export XDG_CACHE_HOME="$tmp/xdg"

if ! "$HEFT_ENGINE" synth -q --arch qwen3moe --embd 256 --layers 4 --heads 4 --kv-heads 2 --ff 512 \
	--experts 8 --experts-used 2 --expert-ff 256 --ctx 2048 -o "$tmp/m.gguf" 2>"$tmp/err"; then
	cat "$tmp/err"
	exit 99
fi
flags="--io stream --mem min"

# --stats-json
"$HEFT_ENGINE" run "$tmp/m.gguf" --tokens 1,2,3 -n 4 $flags --stats-json "$tmp/run.json" >/dev/null 2>"$tmp/err" ||
	{ cat "$tmp/err"; exit 1; }
# the stats event (JSON Lines)
printf '%s\n' '{"type":"chat","id":1,"text":"hi","options":{"n_predict":3}}' '{"type":"stats"}' '{"type":"quit"}' |
	timeout 60 "$HEFT_ENGINE" serve $flags "$tmp/m.gguf" >"$tmp/events" 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
# /metrics after a request
"$HEFT_ENGINE" serve --http 127.0.0.1:0 $flags "$tmp/m.gguf" 2>"$tmp/srv.err" &
pid=$!
port=$(server_port "$tmp/srv.err") || { cat "$tmp/srv.err"; exit 99; }
for _ in $(seq 100); do
	[ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 200 ] && break
	sleep 0.1
done
curl -s -m 30 "http://127.0.0.1:$port/v1/chat/completions" -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":3}' >/dev/null
curl -s -m 10 "http://127.0.0.1:$port/metrics" >"$tmp/metrics"

python3 - "$tmp/run.json" "$tmp/events" "$tmp/metrics" <<'EOF'
import json, re, sys
run = json.load(open(sys.argv[1]))
stats = [json.loads(l) for l in open(sys.argv[2]) if '"type":"stats"' in l][-1]["stats"]
text = open(sys.argv[3]).read()
metrics = dict((m.group(1), float(m.group(2))) for m in re.finditer(r"^heft_(\w+) (\S+)$", text, re.M))
types = dict(re.findall(r"^# TYPE heft_(\w+) (\w+)$", text, re.M))
helps = set(re.findall(r"^# HELP heft_(\w+) ", text, re.M))
fails = []
def check(ok, what):
    if not ok:
        fails.append(what)
store = ["budget", "resident_bytes", "cache_bytes", "cache_slot_bytes", "cache_slots", "cache_slots_used",
         "experts_total", "cache_hits", "cache_misses", "cache_hit_rate", "prefetch_issued", "prefetch_hits",
         "prefetch_wasted", "read_bytes", "io_wait_total_ms", "rss", "rss_peak"]
for k in store:
    check(k in run, "--stats-json lacks " + k)
    check(k in stats, "the stats event lacks " + k)
    check(k in metrics, "/metrics lacks heft_" + k)
scalars = [k for k, v in stats.items() if not isinstance(v, list)]
for k in scalars:
    if stats[k] is not None:
        check(k in metrics and k in helps, "stats event number %s not on /metrics with a HELP line" % k)
for k in ("cache_hits", "cache_misses", "read_bytes", "prefetch_issued", "io_wait_total_ms"):
    check(types.get(k) == "counter", "%s is a %s, not a counter" % (k, types.get(k)))
for k in ("budget", "rss", "cache_slots"):
    check(types.get(k) == "gauge", "%s is a %s, not a gauge" % (k, types.get(k)))
old = ["hits", "misses", "peak_rss", "n_slots", "slots_used", "mem_budget", "bytes_read_total", "io_wait_s",
       "slot_bytes", "n_experts", "hit_rate", "prefetch_useful"]
for k in old:
    check(k not in run and k not in stats and k not in metrics, "an old name is still used: " + k)
# the same model and budget: the same plan under the same names
for k in ("budget", "cache_slots", "cache_slot_bytes", "experts_total", "resident_bytes"):
    check(run[k] == stats[k] == metrics[k], "%s differs: %s %s %s" % (k, run[k], stats[k], metrics[k]))
for f in fails:
    print("FAIL: " + f)
sys.exit(1 if fails else 0)
EOF
rc=$?
[ "$rc" -eq 0 ] && echo "stats-names: all checks passed"
exit "$rc"
