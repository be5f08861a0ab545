#!/bin/sh
# tui-plain.sh - heft without the full screen: -p PROMPT (one answer, the
# exit status tells failures), --plain with a pipe, plain mode chosen by
# itself for TERM=dumb and for output that is not a terminal, the command
# line (--help, --version, bad values). The libedit prompt part runs in tmux
# and is skipped without it.

NAME=tui-plain
. "$(dirname "$0")/tui-lib.sh"

run() {	# run ENGINE-ARGS HEFT-ARGS...: heft with the fake engine, no terminal
	_e=$1; shift
	"$HEFT" --engine "$FAKE $_e -l $work/requests.log" "$@" </dev/null >"$work/out" 2>"$work/err"
}

# 1. -p: one answer on standard output, exit 0.
run "-e -r 0" -p "hello there" m.gguf; rc=$?
[ $rc -eq 0 ] && ok "-p exits 0" || fail "-p exit status $rc: $(cat "$work/err")"
[ "$(cat "$work/out")" = "You said: hello there. END" ] && ok "-p prints the answer" || fail "-p printed: $(cat "$work/out")"
[ -s "$work/err" ] && fail "-p wrote to stderr: $(cat "$work/err")" || ok "-p: nothing on stderr"
[ -d "$XDG_DATA_HOME/heft/sessions" ] && fail "-p recorded a session" || ok "-p records no session"
grep -q '"type":"load","model":"m.gguf"' "$work/requests.log" && ok "-p loads MODEL" || fail "-p: no load"

# 2. Sampler flags are passed through, bad ones refused.
run "-e -r 0" -p x --temp 0.25 --top-k 5 --seed 7 --stop '</s>' --stop END -n 9 m.gguf
last_request set | grep -q '{"temp":0.25,"top_k":5,"seed":7,"n_predict":9,"stop":\["</s>","END"\]}' \
	&& ok "sampler flags sent in a set request" || fail "set: $(last_request set)"
run "-e -r 0" -p x --temp hot m.gguf; rc=$?
[ $rc -eq 2 ] && grep -q 'temp' "$work/err" && ok "--temp hot: exit 2 with a message" || fail "--temp hot: $rc $(cat "$work/err")"
run "-e -r 0" -p x --mem lots m.gguf; rc=$?
[ $rc -eq 2 ] && grep -q 'not a size' "$work/err" && ok "--mem lots: exit 2" || fail "--mem lots: $rc"
run "-e -r 0" -p x --mem 8G --ctx 2048 --threads 3 m.gguf
last_request load | grep -q '"mem":8589934592,"ctx":2048,"threads":3' && ok "--mem --ctx --threads in the load" \
	|| fail "load: $(last_request load)"
run "-e -r 0" -p x --io stream --cache-policy lfu --no-prefetch --chat-template chatml m.gguf
last_request load | grep -q '"io":"stream","cache_policy":"lfu","no_prefetch":true,"chat_template":"chatml"' \
	&& ok "--io --cache-policy --no-prefetch --chat-template in the load" || fail "load: $(last_request load)"
run "-e -r 0" -p x --io fast m.gguf; rc=$?
[ $rc -eq 2 ] && grep -q 'not one of auto, ram, stream, mmap' "$work/err" && ok "--io fast: exit 2" || fail "--io fast: $rc"

# 3. Untrusted output: escape sequences never reach standard output raw.
run "-r 0" -p x m.gguf
if LC_ALL=C grep -q "$(printf '\033')" "$work/out"; then
	fail "-p: a raw ESC reached stdout"
else
	ok "-p: no raw ESC on stdout"
fi
grep -Fq '^[[31mred^[[0m' "$work/out" && ok "-p: ESC shown as ^[" || fail "-p: $(head -1 "$work/out")"

# 4. Failures give an exit status and a message.
"$HEFT" --engine "$work/no-engine" -p x m.gguf </dev/null >"$work/out" 2>"$work/err"; rc=$?
[ $rc -eq 1 ] && grep -q 'status 127' "$work/err" && ok "-p, engine not executable: exit 1, status 127 said" \
	|| fail "-p no engine: $rc $(cat "$work/err")"
run "-L -r 0" -p x "$work/missing.gguf"; rc=$?
[ $rc -eq 1 ] && grep -q 'cannot load the model: .*missing.gguf: No such file' "$work/err" \
	&& ok "-p, bad model: exit 1, reason said" || fail "-p bad model: $rc $(cat "$work/err")"
run "-r 0 -k 3" -p x m.gguf; rc=$?
[ $rc -eq 1 ] && grep -q 'was killed by signal 9' "$work/err" && [ -s "$work/out" ] \
	&& ok "-p, engine killed mid-reply: exit 1, partial reply kept, reason said" || fail "-p killed: $rc $(cat "$work/err")"
# SIGINT stops the reply: what came so far, then exit 130.
"$HEFT" --engine "$FAKE -r 10 -n 1000" -p x m.gguf </dev/null >"$work/out" 2>"$work/err" &
pid=$!
sleep 0.8
kill -INT $pid
i=0; while kill -0 $pid 2>/dev/null && [ $i -lt 40 ]; do sleep 0.05; i=$((i + 1)); done
wait $pid; rc=$?
[ $rc -eq 130 ] && grep -q '\[stopped\]' "$work/err" && [ -s "$work/out" ] && ok "-p, SIGINT: reply stopped, exit 130" \
	|| fail "-p SIGINT: $rc $(cat "$work/err")"

# 5. --plain reading a pipe: one message per line, commands work.
printf 'first\n/set temp 0.5\nsecond\n"""multi\nline"""\n/bye\nnot sent\n' |
	"$HEFT" --plain --engine "$FAKE -e -r 0 -l $work/requests.log" m.gguf >"$work/out" 2>"$work/err"; rc=$?
[ $rc -eq 0 ] && ok "--plain with a pipe exits 0" || fail "--plain: exit $rc $(cat "$work/err")"
printf 'You said: first. END\nYou said: second. END\nYou said: multi\nline. END\n' | cmp -s - "$work/out" \
	&& ok "--plain: replies streamed, one per message" || fail "--plain printed: $(cat "$work/out")"
grep -q '"type":"set","options":{"temp":0.5}' "$work/requests.log" && ok "--plain: /set works" || fail "--plain /set"
grep -q 'not sent' "$work/requests.log" && fail "--plain: a line after /bye was sent" || ok "--plain: /bye quits"

# 6. Output that is not a terminal means plain, without asking.
echo 'auto' | "$HEFT" --engine "$FAKE -e -r 0" m.gguf >"$work/out" 2>"$work/err"; rc=$?
[ $rc -eq 0 ] && [ "$(cat "$work/out")" = "You said: auto. END" ] && ok "non-tty output: plain mode by itself" \
	|| fail "non-tty: $rc $(cat "$work/out" "$work/err")"

# 7. The command line.
"$HEFT" --help >"$work/out" 2>&1 && grep -q -- '--resume' "$work/out" && ok "--help" || fail "--help"
# Each option's description on its own line: --chat-template's is about
# templates, and the weights' one belongs to --io.
desc() { sed -n "s/^  $1 [^ ]* *//p" "$work/out"; }
desc --chat-template | grep -q 'template' && ! desc --chat-template | grep -q 'weights' \
	&& ok "--help: --chat-template described as itself" || fail "--help: --chat-template: $(desc --chat-template)"
desc --io | grep -q 'weights' && ok "--help: --io described" || fail "--help: --io: $(desc --io)"
[ "$("$HEFT" --version)" = "heft $(sed -n 's/^AC_INIT(\[heft\], *\[\([^]]*\)\].*/\1/p' "$top_srcdir/configure.ac")" ] \
	&& ok "--version" || fail "--version: $("$HEFT" --version)"
"$HEFT" --bogus >/dev/null 2>&1; [ $? -eq 2 ] && ok "unknown option: exit 2" || fail "unknown option"
"$HEFT" -m a.gguf b.gguf >/dev/null 2>"$work/err"; [ $? -eq 2 ] && grep -q 'two models' "$work/err" \
	&& ok "two models: exit 2" || fail "two models"

# 8. TERM=dumb on a terminal: the libedit prompt, Ctrl-C stops a reply.
if command -v tmux >/dev/null 2>&1; then
	need_tmux
	T new-session -d -x 80 -y 24 -s h "env LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=dumb '$HEFT' \
		--engine '$FAKE -e -r 20 -n 200 -l $work/requests.log' m.gguf; echo heft-exit=\$? >$work/exit; sleep 60"
	wait_for 'plain mode' 3 && ok "TERM=dumb: plain mode" || fail "TERM=dumb: $(screen)"
	wait_for '^>' 3 && ok "TERM=dumb: a prompt" || fail "no prompt"
	T send-keys -t h 'slow one' Enter
	wait_for 'You said' 3 && ok "TERM=dumb: reply streams" || fail "TERM=dumb: no reply"
	T send-keys -t h C-c
	wait_for '\[stopped\]' 3 && ok "TERM=dumb: Ctrl-C stops the reply" || fail "TERM=dumb: Ctrl-C"
	wait_for '^> *$' 3 && ok "TERM=dumb: back at the prompt" || fail "TERM=dumb: no prompt after Ctrl-C"
	T send-keys -t h C-d
	wait_file "$work/exit" 3
	grep -q 'heft-exit=0' "$work/exit" 2>/dev/null && ok "TERM=dumb: Ctrl-D quits, exit 0" || fail "Ctrl-D: $(cat "$work/exit" 2>/dev/null)"
else
	echo "$NAME: tmux not found, skipping the TERM=dumb prompt part"
fi

finish
