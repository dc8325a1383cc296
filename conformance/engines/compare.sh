#!/bin/bash
# compare.sh [--allow-missing] [--known-failures FILE] BASELINE CANDIDATE
#
# Compares two outputs of run-engines.sh (files holding `PASS|FAIL|SKIP
# engine/scenario[: reason]` lines, e.g. baseline-runc.txt and the candidate
# runtime's output). Exits 1 if any scenario that PASSes in BASELINE does not
# PASS in CANDIDATE (FAIL, SKIP, or absent: a run that stopped early or a
# missing engine is a regression too). --allow-missing ignores scenarios absent
# from CANDIDATE (for runs restricted with ENGINES= or RTEST_ONLY=).
# --known-failures FILE: scenarios listed in FILE (one `engine/scenario` a line, `#`
# comments allowed) that do not pass in CANDIDATE are reported as KNOWN, not as
# regressions; listed ones that now pass are reported as "UNEXPECTED PASS" (remove them
# from the list) without failing.
# Scenarios that fail in BASELINE but pass in CANDIDATE are reported as "fixed".
#
# Output: one line per difference, then
#   compare: N regressions, M fixed, K unchanged[, J known failures]
set -euo pipefail
export LC_ALL=C

ALLOW_MISSING=0 KNOWN_FILE=
while [ $# -gt 0 ]; do
	case $1 in
	--allow-missing) ALLOW_MISSING=1; shift ;;
	--known-failures) KNOWN_FILE=${2:?}; shift 2 ;;
	*) break ;;
	esac
done
BASE=${1:?usage: $0 [--allow-missing] [--known-failures FILE] BASELINE CANDIDATE}
CAND=${2:?usage: $0 [--allow-missing] [--known-failures FILE] BASELINE CANDIDATE}
declare -A KNOWN=()
if [ -n "$KNOWN_FILE" ]; then
	[ -r "$KNOWN_FILE" ] || { echo "compare: cannot read $KNOWN_FILE" >&2; exit 2; }
	while read -r k _; do
		case $k in '' | '#'*) continue ;; esac
		KNOWN[$k]=1
	done <"$KNOWN_FILE"
fi
[ -r "$BASE" ] || { echo "compare: cannot read $BASE" >&2; exit 2; }
[ -r "$CAND" ] || { echo "compare: cannot read $CAND" >&2; exit 2; }

# "STATUS engine/scenario" only (reason text after ':' dropped)
results() { sed -nE 's#^(PASS|FAIL|SKIP) ([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+).*#\2 \1#p' "$1" | sort -u -k1,1; }

reg=0 fixed=0 same=0 known=0
while read -r name b c; do
	if [ -n "${KNOWN[$name]:-}" ]; then
		if [ "$c" = PASS ]; then
			echo "UNEXPECTED PASS $name: listed in $KNOWN_FILE but passes now (remove it there)"
		elif [ "$c" != MISSING ] || [ $ALLOW_MISSING = 0 ]; then
			echo "KNOWN $name: $b with baseline, $c with candidate"
			known=$((known + 1))
			continue
		fi
	fi
	if [ "$b" = PASS ] && [ "$c" != PASS ]; then
		if [ "$c" = MISSING ] && [ $ALLOW_MISSING = 1 ]; then continue; fi
		echo "REGRESSION $name: $b with baseline, $c with candidate"
		reg=$((reg + 1))
	elif [ "$b" != PASS ] && [ "$c" = PASS ]; then
		echo "FIXED $name: $b with baseline, PASS with candidate"
		fixed=$((fixed + 1))
	else
		same=$((same + 1))
	fi
done < <(join -a1 -a2 -e MISSING -o 0,1.2,2.2 <(results "$BASE") <(results "$CAND"))

if [ "$(results "$BASE" | wc -l)" = 0 ]; then
	echo "compare: no results in baseline $BASE" >&2
	exit 2
fi
echo "compare: $reg regressions, $fixed fixed, $same unchanged$([ $known = 0 ] || echo ", $known known failures")"
[ $reg = 0 ]
