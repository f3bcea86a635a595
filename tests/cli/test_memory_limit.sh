# An address-space limit (ulimit -v) is a reported failure, never a spin (issue 12, item 10).
# With 80-192 MB, ppl, profile, eval and run used to spin at 100 % CPU forever inside
# OpenBLAS's thread start-up (it retries the mmap of its 128 MiB work buffer without end).
# Now each one, under limits of 80, 192 and 256 MB, ends (within the `timeout`) either
# with exit 0 or with exit 1 and a message that names the limit or the allocation that
# failed; with enough room they succeed, with BLAS threads capped to what fits.
# Skipped in the sanitizer build: ASan reserves terabytes of address space.
. "$QS_ROOT/tests/lib/common.sh"
case "${QS_SANITIZE:-0}" in 1|ON|on|TRUE|true)
    echo "test_memory_limit: skipped under the sanitizers (they need unlimited address space)"
    summary; exit ;;
esac
M=$QS_ROOT/data/models/stories260K.bin
TXT=$QS_ROOT/data/text/tinystories_v2_valid_head100.txt
cmds=(
    "ppl $M $TXT --ctx 64"
    "profile $M $TXT --tokens 256 --ctx 64 -o $TMP/p.h5"
    "eval $M $TXT --ctx 64 --max-tokens 128 --config W8A8"
    "run $QS_ROOT/experiments/quickstart.lua tokens=256 eval_tokens=128 ctx=64 out=$TMP/q.h5"
)
for kb in 81920 196608 262144; do
    for c in "${cmds[@]}"; do
        name="ulimit -v $((kb / 1024)) MB, ${c%% *}"
        ( ulimit -v $kb; exec timeout 120 "$QSCOPE" $c ) > "$TMP/out" 2> "$TMP/err"
        rc=$?
        check "$name: ends without a spin or a crash ($rc)" [ $rc -le 1 ]
        if [ $rc = 1 ]; then
            if grep -qE "address-space limit \(ulimit -v\) of [0-9]+ MiB is too small|out of memory|not enough memory" "$TMP/err"
            then ok; else bad "$name: message"; sed -n 1,5p "$TMP/err" >&2; fi
        fi
        [ $kb -ge 262144 ] && check "$name: succeeds with enough room" [ $rc = 0 ]
    done
done
( ulimit -v 131072; exec timeout 60 "$QSCOPE" ppl "$M" "$TXT" --ctx 64 ) > "$TMP/out" 2> "$TMP/err"
if grep -qE "qscope: error: the address-space limit \(ulimit -v\) of 128 MiB is too small: OpenBLAS reserves 128 MiB per thread.*allow at least ulimit -v [0-9]+" "$TMP/err"
then ok; else bad "128 MB: the message says what to allow"; cat "$TMP/err" >&2; fi
expect_ok "--version needs no BLAS buffer" -- bash -c "ulimit -v 131072; exec timeout 60 $QSCOPE --version"
summary
