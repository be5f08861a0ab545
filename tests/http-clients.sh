#!/bin/sh
# http-clients.sh - real clients against `heft-engine serve --http`: the
# openai npm package (models.list, chat whole and streamed with the same
# text at temperature 0, exactly one usage chunk with include_usage, a
# 401 for a wrong key, an aborted stream that cancels its job) and Node's
# fetch with undici's header and body timeouts cut to 15 s, which still
# completes a stream whose first token comes after 40 s because its
# headers go out at once and pings follow every 10 s at most.
#
# The packages are pinned in tests/node/package-lock.json; `npm ci` there
# installs them (.ci/run does). Without node or them, the test skips.
# Servers and scratch files: tests/http-lib.sh. Environment: HEFT_ENGINE,
# top_srcdir.
set -u
node_dir="${top_srcdir:-.}/tests/node"
if ! command -v node >/dev/null 2>&1; then
	echo "http-clients: node is not installed; skipping"
	exit 77
fi
if [ ! -d "$node_dir/node_modules/openai" ] || [ ! -d "$node_dir/node_modules/undici" ]; then
	echo "http-clients: the npm packages are missing (run npm ci in tests/node); skipping"
	exit 77
fi
NAME=http-clients NEEDS="curl"
. "$(dirname "$0")/http-lib.sh"
key=node-test-key

# A slightly slowed engine (20 ms a token) so that a stream lasts long enough to abort.
serve sdk 20 --api-key "$key" -c 1024 "$tmp/chat.gguf"
timeout 120 node "$node_dir/clients.js" sdk "$base" "$key" chat || fails=$((fails + 1))

# The slow case: one 41 s pause before the first token.
serve slow 41000 --api-key "$key" "$tmp/chat.gguf"
timeout 120 node "$node_dir/clients.js" slow "$base" "$key" || fails=$((fails + 1))

[ "$fails" -eq 0 ] || exit 1
echo "http-clients: all checks passed"
