# tui-lib.sh - shared by the tests/tui-*.sh scripts (sourced, not run).
# Drives heft in a private tmux server. Before sourcing, set NAME (used in
# messages and the socket name). Provides: T (tmux on our socket), screen,
# wait_for, start, ok, fail, finish, server_port (tests/serve-port.sh), and
# $work (a scratch directory).

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/.." && pwd)}
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
HEFT=${HEFT:-$top_builddir/heft}
FAKE=${FAKE_ENGINE:-$top_builddir/tests/fake-engine}
. "$top_srcdir/tests/serve-port.sh"

[ -x "$HEFT" ] || { echo "$NAME: $HEFT not built"; exit 1; }
[ -x "$FAKE" ] || { echo "$NAME: $FAKE not built"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/heft-$NAME.XXXXXX") || exit 1
sock="heft-$NAME-$$"
T() { tmux -L "$sock" "$@"; }
cleanup() {
	T kill-server >/dev/null 2>&1
	rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$sock"
	# heft saves its history as it exits: let it finish first.
	rm -rf "$work" 2>/dev/null || { sleep 0.5; rm -rf "$work"; }
}
trap cleanup EXIT
trap 'exit 1' INT TERM
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

# Everything heft writes goes under $work: never the user's own files.
export XDG_STATE_HOME="$work/state" XDG_DATA_HOME="$work/data" HOME="$work/home"
export HEFT_DEMO_MODEL="$work/demo.gguf"
mkdir -p "$HOME"

need_tmux() {
	command -v tmux >/dev/null 2>&1 || { echo "$NAME: tmux not found, skipping"; exit 77; }
	# A placeholder session keeps the server up while test sessions come
	# and go (killing the last session makes the server exit, racing the
	# next start).
	T -f /dev/null new-session -d -s keep 'sleep 3600' || { echo "$NAME: cannot start tmux"; exit 1; }
}

screen() { T capture-pane -p -t h; }

# wait_for REGEX [SECONDS]: poll the screen until grep -E matches.
wait_for() {
	_i=0; _n=$(( ${2:-5} * 20 ))
	while [ $_i -lt $_n ]; do
		screen | grep -Eq -- "$1" && return 0
		sleep 0.05; _i=$((_i + 1))
	done
	return 1
}

# wait_file FILE [SECONDS]: until FILE exists.
wait_file() {
	_i=0; _n=$(( ${2:-5} * 20 ))
	while [ ! -e "$1" ] && [ $_i -lt $_n ]; do sleep 0.05; _i=$((_i + 1)); done
	[ -e "$1" ]
}

# start LABEL "ENGINE ARGS" "HEFT ARGS" [ENV...]: a fresh heft in an 80x24
# session running the fake engine; waits until it is ready (or until the
# status line matches $READY). The engine's
# pid lands in $work/engine.pid, its requests in $work/requests.log,
# heft's exit status in $work/exit.
start() {
	T kill-session -t h >/dev/null 2>&1
	rm -f "$work/exit"
	: >"$work/requests.log"
	_envs=""
	[ $# -gt 3 ] && _envs="$4"
	T new-session -d -x 80 -y 24 -s h \
		"env LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=screen $_envs \
		 '$HEFT' --engine '$FAKE $2 -p $work/engine.pid -l $work/requests.log' $3 \
		 2>>$work/heft.stderr; echo heft-exit=\$? >$work/exit; sleep 60"
	T set-option -t h status off >/dev/null
	wait_for "${READY:-ready}" 5 || fail "$1: heft did not become ready"
}

# Milliseconds since the epoch.
ms() { date +%s%N | cut -c1-13; }

# latency_median PANE: type 8 keys into PANE, print the median time (ms)
# until the key ends the pane's last non-empty line.
latency_median() {
	samples=""
	for k in a b c d e f g h; do
		t0=$(ms)
		T send-keys -t "$1" "$k"
		i=0
		while ! T capture-pane -p -t "$1" | grep -v '^ *$' | tail -1 | grep -q "$k\$" && [ $i -lt 200 ]; do
			i=$((i + 1))
		done
		samples="$samples $(( $(ms) - t0 ))"
	done
	T send-keys -t "$1" C-u
	echo $samples | tr ' ' '\n' | sort -n | sed -n 4p
}

# The last request of a type that the engine received.
last_request() { grep "\"type\":\"$1\"" "$work/requests.log" | tail -1; }

finish() {
	[ -s "$work/heft.stderr" ] && { echo "heft stderr:"; cat "$work/heft.stderr"; }
	[ $failures -eq 0 ] && echo "$NAME: all scenarios passed" || echo "$NAME: $failures failure(s)"
	[ $failures -eq 0 ]
	exit $?
}
