# Bad checkpoints and texts: each must exit non-zero with a message that names the file and
# the problem, never crash, and (in the sanitizer build) never trip ASan/UBSan.
. "$QS_ROOT/tests/lib/common.sh"
M=$QS_ROOT/data/models/stories260K.bin
TXT=$QS_ROOT/data/text/tinystories_v2_valid_head100.txt
B=$TMP/bad
mkdir -p "$B"
# write_header FILE dim hidden layers heads kv vocab seq : a llama2.c legacy header
write_header() { /usr/bin/python3 -c 'import struct,sys; open(sys.argv[1],"wb").write(struct.pack("<7i",*map(int,sys.argv[2:])))' "$@"; }

head -c 1000 "$M" > "$B/truncated.bin"
expect_fail truncated "truncated.bin.*truncated" -- "$QSCOPE" info "$B/truncated.bin"
head -c 20 "$M" > "$B/short_header.bin"
expect_fail "short header" "short_header.bin.*28-byte" -- "$QSCOPE" info "$B/short_header.bin"
: > "$B/empty.bin"
expect_fail empty "empty.bin.*empty" -- "$QSCOPE" info "$B/empty.bin"
expect_fail directory "is a directory without config.json" -- "$QSCOPE" info "$B/"
expect_fail missing "nope.bin.*(No such file|cannot open)" -- "$QSCOPE" info "$B/nope.bin"
cp "$M" "$B/long.bin"; printf 'junk' >> "$B/long.bin"
expect_fail "file longer than header" "long.bin.*4 extra bytes" -- "$QSCOPE" info "$B/long.bin"
write_header "$B/zero_dim.bin" 0 172 5 8 4 512 512
expect_fail "zero dim" "zero_dim.bin.*dim = 0" -- "$QSCOPE" info "$B/zero_dim.bin"
write_header "$B/neg_layers.bin" 64 172 -5 8 4 512 512
expect_fail "negative layers" "neg_layers.bin.*n_layers = -5" -- "$QSCOPE" info "$B/neg_layers.bin"
write_header "$B/absurd.bin" 2000000000 2000000000 1000 8 4 512 512
expect_fail "absurd dims" "absurd.bin.*out of range" -- "$QSCOPE" info "$B/absurd.bin"
write_header "$B/heads.bin" 64 172 5 7 7 512 512
expect_fail "heads do not divide dim" "heads.bin.*n_heads = 7 does not divide dim = 64" -- "$QSCOPE" info "$B/heads.bin"
write_header "$B/kv.bin" 64 172 5 8 3 512 512
expect_fail "kv heads do not divide heads" "kv.bin.*n_kv_heads = 3 does not divide n_heads = 8" -- "$QSCOPE" info "$B/kv.bin"
# overflow: every dim at its maximum must not wrap size_t
write_header "$B/overflow.bin" 131072 524288 1024 1024 1024 4194304 4194304
expect_fail "size overflow" "overflow.bin.*(truncated|overflow)" -- "$QSCOPE" info "$B/overflow.bin"
head -c 3000 "$QS_ROOT/data/models/tok512.bin" > "$B/tok_trunc.bin"
expect_fail "truncated tokenizer" "tok_trunc.bin.*truncated" -- "$QSCOPE" info "$M" --tokenizer "$B/tok_trunc.bin"
printf 'Once upon a time \xff\xfe there was\n' > "$B/bad_utf8.txt"
expect_fail "invalid utf-8" "bad_utf8.txt.*invalid UTF-8 at byte offset 17" -- "$QSCOPE" ppl "$M" "$B/bad_utf8.txt" --ctx 8
# ... unless the user asks for replacement
yes 'Once upon a time there was a cat.' | head -50 > "$B/replace.txt"; printf '\xff\n' >> "$B/replace.txt"
expect_ok "utf8 replace" -- "$QSCOPE" ppl "$M" "$B/replace.txt" --ctx 64 --utf8 replace
expect_fail "text missing" "missing.txt" -- "$QSCOPE" ppl "$M" "$B/missing.txt"
printf 'hi' > "$B/tiny.txt"
expect_fail "text shorter than a window" "fewer than one window" -- "$QSCOPE" ppl "$M" "$B/tiny.txt" --ctx 64
summary
