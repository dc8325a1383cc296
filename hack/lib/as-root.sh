# hack/lib/as-root.sh - sourced by scripts that must run as root (demo.sh, test.sh,
# install.sh for system prefixes).
#   need_root SCRIPT ARGS...  as root: return; else re-exec SCRIPT with `sudo -E`, or
#                             fail with one clear line when there is no sudo
#   as_invoker CMD...         under sudo, run CMD as the user who ran sudo when the
#                             checkout is theirs (so target/ stays theirs); else as is
need_root() {
	[ "$(id -u)" = 0 ] && return 0
	local script=$1
	shift
	if command -v sudo >/dev/null; then
		echo "$(basename "$script"): not root, re-running with sudo" >&2
		exec sudo -E "$script" "$@"
	fi
	echo "$(basename "$script") must run as root, and there is no sudo: run it as root" >&2
	exit 2
}

# Under `sudo -E`, HOME is still the user's: root's cargo must not write into it.
if [ "$(id -u)" = 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
	SIFRUN_INVOKER_HOME=$(getent passwd "$SUDO_USER" | cut -d: -f6)
	if [ "${HOME:-}" = "$SIFRUN_INVOKER_HOME" ]; then
		HOME=$(getent passwd root | cut -d: -f6)
		export HOME
	fi
fi

as_invoker() {
	if [ "$(id -u)" = 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ] &&
		[ "$(stat -c %U .)" = "$SUDO_USER" ]; then
		local h=${SIFRUN_INVOKER_HOME:-$(getent passwd "$SUDO_USER" | cut -d: -f6)}
		runuser -u "$SUDO_USER" -- env HOME="$h" PATH="$h/.cargo/bin:$PATH" "$@"
	else
		"$@"
	fi
}
