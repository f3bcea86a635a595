#!/usr/bin/env bash
# qscope info on GGUF files: format, stored types, embedded tokenizer; clear errors on bad files.
set -u
fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }
Q=${QSCOPE:?QSCOPE not set}
cd "${QS_ROOT:-.}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out=$("$Q" info --json tests/fixtures/stories260K-Q4_0.gguf) || { echo "FAIL: info exited $?"; exit 1; }
check '[[ $out == *"\"format\":	\"gguf\""* ]]' "format gguf"
check '[[ $out == *"\"stored_types\":	\"Q4_0,F32,F16,Q8_0\""* ]]' "stored types of the Q4_0 file: $out"
check '[[ $out == *"\"tokenizer\":	\"gguf-llama\""* ]]' "embedded tokenizer"
check '[[ $out == *"\"seq_len\":	128"* ]]' "context_length"

out=$("$Q" info --tensors tests/fixtures/stories260K-Q8_0.gguf)
check '[[ $(grep -c " Q8_0$" <<<"$out") == 32 ]]' "32 Q8_0 tensors listed"
check '[[ $(grep -c " F16$" <<<"$out") == 5 ]]' "5 F16 tensors listed"
check 'grep -q "blk.0.ffn_down .* F16$" <<<"$out"' "ffn_down stored as F16"

# a truncated copy: non-zero exit, one message naming the file, the key and the offset
head -c 5000 tests/fixtures/stories260K.gguf > "$tmp/cut.gguf"
err=$("$Q" info "$tmp/cut.gguf" 2>&1 >/dev/null); rc=$?
check '[[ $rc != 0 ]]' "truncated file must fail"
check '[[ $err == *"cut.gguf: truncated at offset"*"tokenizer.ggml.tokens"* ]]' "truncation message: $err"

# an unsupported version
printf 'GGUF\001\000\000\000' > "$tmp/v1.gguf"
head -c 64 /dev/zero >> "$tmp/v1.gguf"
err=$("$Q" info "$tmp/v1.gguf" 2>&1 >/dev/null); rc=$?
check '[[ $rc != 0 && $err == *"unsupported GGUF version 1"* ]]' "version message: $err"

[[ $fail == 0 ]] && echo "gguf_info: ok"
exit $fail
