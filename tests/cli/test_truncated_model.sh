# A model file truncated while qscope uses it (issue 12, item 17): the weights are read
# from the file's mapping, and a read past the new end used to kill the run with SIGBUS and
# no message. Now the read finds zeros, the run stops at the end of that forward pass (or
# of the load) with exit 1 and a message naming the file, and nothing computed from the
# damaged weights is reported. Two moments: right after the file is mapped (during the
# load) and a second later (during the forward passes of a long ppl run).
. "$QS_ROOT/tests/lib/common.sh"
TXT=$QS_ROOT/data/text/tinystories_v1_valid_head.txt
TOK=$QS_ROOT/data/models/tok512.bin
expect_ok "a 100 MB model" -- "$QSCOPE" synth -o "$TMP/m.bin" --dim 512 --hidden 1376 --layers 8 \
    --heads 8 --kv-heads 8 --vocab 512 --seq 512
for delay in 0 1.5; do
    cp "$TMP/m.bin" "$TMP/cut.bin"
    "$QSCOPE" ppl "$TMP/cut.bin" "$TXT" --tokenizer "$TOK" --ctx 256 --max-tokens 1000000 \
        --threads 1 --json > "$TMP/ppl.out" 2> "$TMP/ppl.err" &
    pid=$!
    for _ in $(seq 1 400); do grep -q cut.bin /proc/$pid/maps 2>/dev/null && break; sleep 0.02; done
    sleep $delay
    truncate -s 4096 "$TMP/cut.bin"
    wait $pid
    rc=$?
    check "truncated after ${delay}s: exit 1, no SIGBUS ($rc)" [ $rc = 1 ]
    no_sanitizer_report "$TMP/ppl.err" "truncated after ${delay}s" && ok
    if grep -qE "cut\.bin: the file changed while in use \(truncated: a read at byte [0-9]+ found no data\)" "$TMP/ppl.err"
    then ok; else bad "truncated after ${delay}s: message"; cat "$TMP/ppl.err" >&2; fi
    check "truncated after ${delay}s: no result printed" [ ! -s "$TMP/ppl.out" ]
done
summary
