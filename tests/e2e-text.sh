#!/bin/sh
# e2e-text.sh - text in, text out against llama.cpp: for the end-to-end
# fixtures (a real tokenizer on a small model), `heft-engine eval -p PROMPT`
# must give the ref's prompt tokens exactly, and the greedy ids and text
# must match up to the first step where the reference stood at a near-tie
# (greedy_margin < 0.05, see the fixtures' README).
# Environment: HEFT_ENGINE, HEFT_FIXTURES (default ../shared/fixtures),
# REFCMP (default $top_builddir/tests/refcmp), top_builddir, top_srcdir.
set -u
fixtures=${HEFT_FIXTURES:-${top_srcdir:-.}/../shared/fixtures}
engine=${HEFT_ENGINE:-${top_builddir:-.}/heft-engine}
refcmp=${REFCMP:-${top_builddir:-.}/tests/refcmp}
steps=24
models="qwen3moe-gpt2vocab-Q4_0 llama-spmvocab-Q4_0"

for m in $models; do
	if [ ! -f "$fixtures/models/$m.gguf" ] || [ ! -f "$fixtures/refs/$m.ref" ]; then
		echo "e2e-text: no fixture $m at $fixtures (set HEFT_FIXTURES); skipping"
		exit 77
	fi
done
for tool in "$engine" "$refcmp"; do
	if [ ! -x "$tool" ]; then
		echo "e2e-text: $tool is not built" >&2
		exit 99
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/heft-e2e.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# The value of a ref line ("prompt ...", "greedy_text ..."), still escaped.
field() { sed -n "s/^$2 //p" "$1" | head -n 1; }
# Undo the refs' %XX escaping (bytes < 0x20 and '%').
unescape() {
	LC_ALL=C awk 'BEGIN { for (i = 0; i < 256; i++) hex[sprintf("%02X", i)] = i }
	{
		s = $0; out = ""
		while ((p = index(s, "%")) > 0) {
			out = out substr(s, 1, p - 1) sprintf("%c", hex[toupper(substr(s, p + 1, 2))])
			s = substr(s, p + 3)
		}
		printf "%s", out s
	}'
}
# Steps compared: up to the first greedy_margin below 0.05.
compared() {
	field "$1" greedy_margin | awk -v max="$steps" '{
		for (i = 2; i <= NF && i - 2 < max; i++) if ($i + 0 < 0.05) break
		print i - 2 }'
}

for m in $models; do
	fails0=$fails
	ref=$fixtures/refs/$m.ref
	prompt=$(field "$ref" prompt | unescape; echo x) # x: keep trailing newlines
	prompt=${prompt%x}
	if ! "$engine" eval "$fixtures/models/$m.gguf" -p "$prompt" --greedy $steps --out "$tmp/$m.ref" \
		2>"$tmp/err"; then
		fail "$m: eval: $(head -n 1 "$tmp/err")"
		continue
	fi
	out=$tmp/$m.ref
	[ "$(field "$out" prompt)" = "$(field "$ref" prompt)" ] || fail "$m: the prompt did not round-trip"
	if [ "$(field "$out" tokens)" = "$(field "$ref" tokens)" ]; then
		echo "$m: prompt tokens exact ($(field "$ref" tokens | cut -d' ' -f1) tokens)"
	else
		fail "$m: prompt tokens differ"
		echo "  reference: $(field "$ref" tokens)"
		echo "  heft:      $(field "$out" tokens)"
	fi
	# greedy ids under the near-tie rule (refcmp also checks the tokens)
	"$refcmp" --greedy-steps $steps "$ref" "$out" || fail "$m: refcmp"
	# greedy text: the text of the first k tokens (k = steps compared) must
	# begin the reference's text, and all of it when there was no near-tie.
	k=$(compared "$ref")
	reftext=$(field "$ref" greedy_text)
	if [ "$k" -ge $steps ]; then
		[ "$(field "$out" greedy_text)" = "$reftext" ] || fail "$m: greedy_text differs"
	else
		"$engine" eval "$fixtures/models/$m.gguf" -p "$prompt" --greedy "$k" --out "$tmp/$m.k.ref" 2>/dev/null ||
			fail "$m: eval --greedy $k"
		ktext=$(field "$tmp/$m.k.ref" greedy_text)
		case $reftext in
		"$ktext"*) ;;
		*) fail "$m: the text of the first $k greedy tokens '$ktext' does not begin '$reftext'" ;;
		esac
		case $(field "$out" greedy_text) in
		"$ktext"*) ;;
		*) fail "$m: greedy_text does not begin with the text of its first $k tokens" ;;
		esac
	fi
	[ $fails -eq $fails0 ] && echo "$m: greedy ids and text match over $k of $steps steps (near-tie rule)"
done
[ $fails -eq 0 ] || { echo "e2e-text: $fails failure(s)"; exit 1; }
echo "e2e-text: ok"
