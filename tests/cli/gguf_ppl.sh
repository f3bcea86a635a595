#!/usr/bin/env bash
# Outside witness: llama.cpp's llama-perplexity on stories260K.gguf (ctx 128, its default
# protocol, F32 KV cache) prints "PPL = 6.1781 +/- 0.13030" (tests/fixtures/README.md §7).
# qscope reading the same GGUF, with its embedded tokenizer, must land within 0.1 %.
set -u
MAX_PPL_REL_ERROR=0.001  # 0.1 % of llama.cpp's figure
Q=${QSCOPE:?QSCOPE not set}
cd "${QS_ROOT:-.}"
out=$("$Q" ppl tests/fixtures/stories260K.gguf data/text/tinystories_v2_valid_head100.txt --ctx 128 --json 2>/dev/null) \
    || { echo "FAIL: qscope ppl exited $?"; exit 1; }
ppl=$(sed -n 's/.*"ppl":[[:space:]]*\([0-9.e+-]*\).*/\1/p' <<<"$out")
n=$(sed -n 's/.*"windows":[[:space:]]*\([0-9]*\).*/\1/p' <<<"$out")
if ! awk -v p="$ppl" -v n="$n" -v tol="$MAX_PPL_REL_ERROR" 'BEGIN { d = (p - 6.1781) / 6.1781; if (d < 0) d = -d; exit !(d < tol && n == 318) }'; then
    echo "FAIL: PPL $ppl over $n windows, llama.cpp says 6.1781 over 318"
    exit 1
fi
echo "gguf_ppl: PPL $ppl over $n windows (llama.cpp: 6.1781)"
