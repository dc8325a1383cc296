#!/bin/bash
# hack/vendor-check.sh - check that the vendored crates are exactly what their patch series
# says they are: for each crate in third_party/patches/,
#   1. download the pristine package from crates.io with cargo (a throwaway project in a temp
#      dir, `cargo fetch`; the .crate's sha256 is checked against the registry checksum that
#      cargo recorded in the throwaway Cargo.lock),
#   2. remove the packaging files listed in third_party/patches/<crate>/packaging-remove,
#   3. apply third_party/patches/<crate>/NNNN-*.patch in order with `git apply`,
#   4. compare the result with third_party/<crate> (the whole tree, `diff -r`; only the
#      local index PATCHES.md is not part of the crate),
# and check that every `sifrun patch NNNN` marker in third_party/<crate> names a patch of
# the series. Exits 0 only if every crate matches. See third_party/README.md for how to
# add or change a patch.
#
# Usage: hack/vendor-check.sh [--git DIR]
#   --git DIR   also leave DIR/<crate>: a git repository with the pristine crate as its
#               first commit and the series applied on top with `git am` (one commit per
#               patch), to edit the series and regenerate it with `git format-patch`.
#
# Environment: CARGO (default cargo), CARGO_HOME (where cargo keeps its registry cache).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO=${CARGO:-cargo}
LOCAL_FILES=(PATCHES.md) # files of third_party/<crate> that are not part of the crate

die() { echo "vendor-check: $*" >&2; exit 1; }

GITDIR=
while [ $# -gt 0 ]; do
	case $1 in
	--git) [ $# -ge 2 ] || die "--git needs a directory"; GITDIR=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument: $1 (usage: hack/vendor-check.sh [--git DIR])" ;;
	esac
done
command -v "$CARGO" >/dev/null || die "no cargo on PATH"
command -v git >/dev/null || die "no git on PATH"

mapfile -t CRATES < <(find "$ROOT/third_party/patches" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort)
[ ${#CRATES[@]} -gt 0 ] || die "no crates under third_party/patches/"

TMP=$(mktemp -d /tmp/vendor-check.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# The [package] version of a vendored crate's (registry-normalized) Cargo.toml.
crate_version() {
	awk '/^\[/ { pkg = ($0 == "[package]") } pkg && /^version *=/ { gsub(/^version *= *"|".*$/, ""); print; exit }' "$1"
}

# ---- 1. download the pristine crates with cargo ---------------------------------------
mkdir -p "$TMP/fetch/src"
: >"$TMP/fetch/src/lib.rs"
{
	printf '[package]\nname = "vendor-check-fetch"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n[dependencies]\n'
	for c in "${CRATES[@]}"; do
		[ -f "$ROOT/third_party/$c/Cargo.toml" ] || die "third_party/$c/Cargo.toml is missing"
		v=$(crate_version "$ROOT/third_party/$c/Cargo.toml")
		[ -n "$v" ] || die "no [package] version in third_party/$c/Cargo.toml"
		printf '%s = "=%s"\n' "$c" "$v"
	done
} >"$TMP/fetch/Cargo.toml"
# Start from the project's lock file so that the other dependencies resolve to the versions
# already in the cargo cache (nothing but the pristine crates is downloaded).
[ -f "$ROOT/Cargo.lock" ] && cp "$ROOT/Cargo.lock" "$TMP/fetch/Cargo.lock"
host=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
if ! "$CARGO" fetch --quiet --manifest-path "$TMP/fetch/Cargo.toml" ${host:+--target "$host"} 2>"$TMP/fetch.err"; then
	cat "$TMP/fetch.err" >&2
	die "cargo fetch of the pristine crates failed (is crates.io reachable?)"
fi
cache=${CARGO_HOME:-$HOME/.cargo}/registry/cache

rc=0
for c in "${CRATES[@]}"; do
	v=$(crate_version "$ROOT/third_party/$c/Cargo.toml")
	pdir=$ROOT/third_party/patches/$c
	# the registry's checksum of the package, as recorded in the lock file
	sum=$(awk -v n="$c" -v v="$v" '
		/^\[\[package\]\]/ { name = ""; ver = ""; src = "" }
		/^name = / { name = $3; gsub(/"/, "", name) }
		/^version = / { ver = $3; gsub(/"/, "", ver) }
		/^source = / { src = $3 }
		/^checksum = / { if (name == n && ver == v && src ~ /^"registry\+/) { gsub(/"/, "", $3); print $3 } }' "$TMP/fetch/Cargo.lock")
	[ -n "$sum" ] || die "$c $v: no registry checksum in the fetched Cargo.lock"
	crate=
	for f in "$cache"/*/"$c-$v.crate"; do
		[ -f "$f" ] && [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$sum" ] && { crate=$f; break; }
	done
	[ -n "$crate" ] || die "$c $v: no $c-$v.crate with sha256 $sum under $cache"

	# ---- 2. pristine tree, packaging files removed -------------------------------------
	mkdir -p "$TMP/pristine"
	tar -xzf "$crate" -C "$TMP/pristine" || die "$c $v: cannot unpack $crate"
	work=$TMP/pristine/$c-$v
	[ -d "$work" ] || die "$c $v: $crate holds no $c-$v/ directory"
	if [ -f "$pdir/packaging-remove" ]; then
		while IFS= read -r p; do
			case $p in '' | '#'*) continue ;; /* | *..*) die "$pdir/packaging-remove: bad path '$p'" ;; esac
			rm -rf "${work:?}/$p"
		done <"$pdir/packaging-remove"
	fi
	if [ -n "$GITDIR" ]; then
		mkdir -p "$GITDIR"
		[ -e "$GITDIR/$c" ] && die "--git: $GITDIR/$c already exists"
		cp -a "$work" "$GITDIR/$c"
		git -C "$GITDIR/$c" init -q
		git -C "$GITDIR/$c" add -A -f
		git -C "$GITDIR/$c" -c user.name=vendor-check -c user.email=vendor-check@localhost \
			commit -q -m "$c $v from crates.io, packaging files removed"
	fi

	# ---- 3. apply the series -----------------------------------------------------------
	mapfile -t patches < <(find "$pdir" -maxdepth 1 -name '*.patch' -printf '%f\n' | sort)
	[ ${#patches[@]} -gt 0 ] || die "$c: no patches in third_party/patches/$c"
	declare -A numbers=()
	for p in "${patches[@]}"; do
		[[ $p =~ ^([0-9]{4})-[a-z0-9][a-z0-9._-]*\.patch$ ]] || die "$c: patch file name '$p' is not NNNN-slug.patch"
		n=${BASH_REMATCH[1]}
		[ -z "${numbers[$n]:-}" ] || die "$c: two patches numbered $n: ${numbers[$n]} and $p"
		numbers[$n]=$p
		if ! (cd "$work" && git apply --whitespace=nowarn "$pdir/$p") 2>"$TMP/apply.err"; then
			sed 's/^/    /' "$TMP/apply.err" >&2
			die "$c: third_party/patches/$c/$p does not apply on top of the patches before it (pristine $c $v)"
		fi
		if [ -n "$GITDIR" ]; then
			git -C "$GITDIR/$c" -c user.name=vendor-check -c user.email=vendor-check@localhost \
				am -q --committer-date-is-author-date "$pdir/$p" || die "--git: git am of $p failed in $GITDIR/$c"
		fi
	done

	# ---- 4. compare with the vendored tree ---------------------------------------------
	excl=()
	for f in "${LOCAL_FILES[@]}"; do excl+=(-x "$f"); done
	if diff -rq "${excl[@]}" "$work" "$ROOT/third_party/$c" >"$TMP/diff.q" 2>&1; then
		echo "vendor-check: third_party/$c = $c $v + ${#patches[@]} patches: OK"
	else
		echo "vendor-check: FAIL: third_party/$c differs from $c $v + third_party/patches/$c ($(wc -l <"$TMP/diff.q") path(s)):" >&2
		sed -e "s|$work|<$c $v + patches>|g" -e "s|$ROOT/||g" -e 's/^/    /' "$TMP/diff.q" >&2
		echo "  diff (<$c $v + patches> vs third_party/$c, first 60 lines):" >&2
		diff -ru "${excl[@]}" "$work" "$ROOT/third_party/$c" |
			sed -e "s|$work|a|g" -e "s|$ROOT/third_party/$c|b|g" | head -n 60 | sed 's/^/    /' >&2 || true
		rc=1
	fi

	# ---- markers name patches of the series --------------------------------------------
	bad=$(grep -rnoE 'sifrun patch [0-9]+' "$ROOT/third_party/$c" --include='*.rs' |
		while IFS=: read -r file line m; do
			n=${m##* }
			[ ${#n} = 4 ] && [ -n "${numbers[$n]:-}" ] || echo "${file#"$ROOT"/}:$line: '$m'"
		done || true)
	if [ -n "$bad" ]; then
		echo "vendor-check: FAIL: markers in third_party/$c that name no patch of the series (want 'sifrun patch NNNN'):" >&2
		sed 's/^/    /' <<<"$bad" >&2
		rc=1
	fi
	unset numbers
	rm -rf "$TMP/pristine"
done
if [ $rc != 0 ]; then
	echo "vendor-check: FAILED: the vendored tree and its patch series disagree; change both together (third_party/README.md)" >&2
fi
exit $rc
