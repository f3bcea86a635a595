# Shared helpers for the bash CLI tests. Source it; then use expect_ok / expect_fail and
# finish with `summary`, which prints the "N passed, N failed" line and sets the exit code.
set -u
: "${QSCOPE:?QSCOPE must point at the qscope binary}"
: "${QS_ROOT:=.}"
PASS=0
FAIL=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

ok()   { PASS=$((PASS + 1)); }
bad()  { FAIL=$((FAIL + 1)); echo "FAIL: $*" >&2; }

# A sanitizer report anywhere in stderr is a failure of its own.
no_sanitizer_report() {
    if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer' "$1"; then
        bad "sanitizer report in $2:"; sed -n 1,20p "$1" >&2; return 1
    fi
    return 0
}

# expect_fail NAME PATTERN -- command...   : non-zero exit, stderr matches PATTERN (ERE),
# no crash (exit < 128), no sanitizer report.
expect_fail() {
    local name=$1 pattern=$2; shift 3
    "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    if [ $rc -eq 0 ]; then bad "$name: exited 0, expected failure"; return; fi
    if [ $rc -ge 128 ]; then bad "$name: crashed (exit $rc)"; sed -n 1,10p "$TMP/err" >&2; return; fi
    no_sanitizer_report "$TMP/err" "$name" || return
    if ! grep -qE -- "$pattern" "$TMP/err"; then
        bad "$name: message does not match /$pattern/:"; cat "$TMP/err" >&2; return
    fi
    ok
}

# expect_ok NAME -- command... : exit 0, stdout kept in $TMP/out
expect_ok() {
    local name=$1; shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    if [ $rc -ne 0 ]; then bad "$name: exit $rc"; sed -n 1,20p "$TMP/err" >&2; return 1; fi
    no_sanitizer_report "$TMP/err" "$name" || return 1
    ok
}

# check NAME CONDITION-COMMAND...
check() { local name=$1; shift; if "$@"; then ok; else bad "$name"; fi; }

# json_get FILE KEY: a top-level field of a JSON object (python3 does the parsing)
json_get() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# approx A B TOL: |A - B| <= TOL
approx() { /usr/bin/python3 -c 'import sys; a,b,t=map(float,sys.argv[1:]); sys.exit(0 if abs(a-b)<=t else 1)' "$1" "$2" "$3"; }

summary() {
    echo "$(basename "$0" .sh): $PASS passed, $FAIL failed"
    [ $FAIL -eq 0 ]
}
