# serve-port.sh - sourced by the tests that start `heft-engine serve --http
# 127.0.0.1:0` (directly or through http-lib.sh and tui-lib.sh).
#
# server_port FILE [TENTHS]: prints the port the server announced in FILE
# (its stderr: "listening on port N"), waiting up to TENTHS tenths of a
# second (default 100); prints nothing and returns 1 when none came.
server_port() {
	_sp_n=0
	while [ "$_sp_n" -lt "${2:-100}" ]; do
		_sp_p=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$1" 2>/dev/null)
		if [ -n "$_sp_p" ]; then
			echo "$_sp_p"
			return 0
		fi
		sleep 0.1
		_sp_n=$((_sp_n + 1))
	done
	return 1
}
