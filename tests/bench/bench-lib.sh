# bench-lib.sh - sourced by tests/bench/stream.sh and longprompt.sh: the
# cgroup limit that goes with a budget, and one JSON line per run.

# limit_of BUDGET: BUDGET (a number with an optional K, M or G) times 1.05,
# in bytes: the cgroup a run under that budget gets.
limit_of() {
	awk -v s="$1" 'BEGIN { match(s, /^[0-9.]+/); n = substr(s, 1, RLENGTH); u = toupper(substr(s, RLENGTH + 1));
		m = u == "G" ? 1024^3 : u == "M" ? 1024^2 : u == "K" ? 1024 : 1; printf "%.0f\n", n * m * 1.05 }'
}

# record LABEL EXIT STATS.json CGROUP.json: print the run's --stats-json
# object with its cgroup report (tests/bench/cgroup-run --report) under
# "cgroup", "row": LABEL and "exit": EXIT; a missing or unreadable file
# counts as {}. Removes both files.
record() {
	python3 - "$1" "$2" "$3" "$4" <<'PY'
import json, sys
label, rc, st, cg = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except Exception:
        return {}
d = load(st)
d["cgroup"] = load(cg)
d["row"], d["exit"] = label, rc
print(json.dumps(d))
PY
	rm -f "$3" "$4"
}
