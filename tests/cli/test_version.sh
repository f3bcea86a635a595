# The revision in `qscope --version` (and in every results file's provenance, git_rev) is
# the commit that was built, read at build time: it must be HEAD's, with "-dirty" only when
# tracked files differ from it. Outside a git checkout it is "unknown".
. "$QS_ROOT/tests/lib/common.sh"
expect_ok "--version" -- "$QSCOPE" --version
v=$(cat "$TMP/out")
check "version line" grep -qE '^qscope [0-9]+\.[0-9]+\.[0-9]+ \(git [0-9a-f]{7,40}(-dirty)?\)$|\(git unknown\)$' "$TMP/out"
if head=$(git -C "$QS_ROOT" rev-parse --short=12 HEAD 2>/dev/null); then
    built=${v##*(git }; built=${built%)}; built=${built%-dirty}
    check "built revision is HEAD ($built vs $head)" [ "$built" = "$head" ]
fi
expect_ok "version command" -- "$QSCOPE" version
check "same line" [ "$(cat "$TMP/out")" = "$v" ]
summary
