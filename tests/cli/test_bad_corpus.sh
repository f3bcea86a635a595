# The corpus of bad inputs (tests/bad/, made by tests/bad/make_bad.py): every file must be
# refused with a non-zero exit and the message its MANIFEST.tsv line names, never a crash
# (exit >= 128), never a sanitizer report. Set QS_BAD_ONLY=ERE to run only matching names.
. "$QS_ROOT/tests/lib/common.sh"
B=$QS_ROOT/tests/bad
F=$B/files
M=$QS_ROOT/data/models/stories260K.bin
n=0
while IFS=$'\t' read -r name kind pattern what; do
    case "$name" in '#'*|'') continue ;; esac
    [ -n "${QS_BAD_ONLY:-}" ] && ! [[ $name =~ $QS_BAD_ONLY ]] && continue
    [ -e "$F/$name" ] || { bad "$name: missing from $F (run tests/bad/make_bad.py)"; continue; }
    n=$((n + 1))
    case "$kind" in
        info) expect_fail "$name ($what)" "$pattern" -- "$QSCOPE" info "$F/$name" ;;
        tok)  expect_fail "$name ($what)" "$pattern" -- "$QSCOPE" info "$M" --tokenizer "$F/$name" ;;
        ppl)  expect_fail "$name ($what)" "$pattern" -- "$QSCOPE" ppl "$M" "$F/$name" --ctx 8 --threads 1 ;;
        run)  expect_fail "$name ($what)" "$pattern" -- "$QSCOPE" run "$F/$name" --max-seconds 5 --max-memory 64 --threads 1 ;;
        *)    bad "$name: unknown kind '$kind' in MANIFEST.tsv" ;;
    esac
done < "$B/MANIFEST.tsv"
check "corpus has at least 40 cases ($n)" [ "$n" -ge 40 -o -n "${QS_BAD_ONLY:-}" ]
# nothing a script tried escaped the sandbox
check "os.execute did not run" [ ! -e /tmp/qscope-escaped ]
summary
