# Perplexity protocols against published figures:
#  - document mode (llama2.c validation: stories 2..100, BOS, <= 512 tokens, all scored):
#    1.316 nats/token over 35,240 tokens (SOURCES.md; Karpathy reports 1.2968 on the full set)
#  - llama.cpp's default (non-overlapping 128-token windows, BOS replaces the first token,
#    second half scored): llama-perplexity prints PPL = 6.1781 +/- 0.13030 (fixtures README)
. "$QS_ROOT/tests/lib/common.sh"
M=$QS_ROOT/data/models/stories260K.bin
TXT=$QS_ROOT/data/text/tinystories_v2_valid_head100.txt
MAX_DOCS_NLL_ERROR=0.01      # the published 1.316 has three digits
MAX_LLAMACPP_PPL_ERROR=0.0309  # 0.5 % of 6.1781
MAX_LLAMACPP_STDERR_ERROR=0.002

expect_ok docs -- "$QSCOPE" ppl "$M" "$TXT" --docs '<|endoftext|>' --skip-docs 1 --score all --json
check "docs NLL 1.316 +- 0.01" approx "$(json_get "$TMP/out" nll)" 1.316 "$MAX_DOCS_NLL_ERROR"
check "docs tokens 35240" [ "$(json_get "$TMP/out" tokens_scored)" = 35240 ]

expect_ok llamacpp -- "$QSCOPE" ppl "$M" "$TXT" --ctx 128 --json
PPL=$(json_get "$TMP/out" ppl)
check "llama.cpp protocol PPL within 0.5% of 6.1781 (got $PPL)" approx "$PPL" 6.1781 "$MAX_LLAMACPP_PPL_ERROR"
check "llama.cpp protocol stderr ~0.1303" approx "$(json_get "$TMP/out" ppl_stderr)" 0.1303 "$MAX_LLAMACPP_STDERR_ERROR"
check "318 windows x 63 scored" [ "$(json_get "$TMP/out" tokens_scored)" = 20034 ]

# scoring every position includes the short-context predictions, so it is worse
expect_ok all -- "$QSCOPE" ppl "$M" "$TXT" --ctx 128 --score all --max-tokens 5000 --json
check "score all counts" [ "$(json_get "$TMP/out" tokens_scored)" = 5000 ]
check "score all worse than half" /usr/bin/python3 -c "import sys; sys.exit(0 if $(json_get "$TMP/out" ppl) > $PPL else 1)"

# overlapping windows score every token once after the first window
expect_ok stride -- "$QSCOPE" ppl "$M" "$TXT" --ctx 128 --stride 64 --score all --max-tokens 3000 --json
check "stride budget" [ "$(json_get "$TMP/out" tokens_scored)" = 3000 ]

expect_fail "ctx beyond model" "ctx" -- "$QSCOPE" ppl "$M" "$TXT" --ctx 100000
expect_fail "bad score word" "score" -- "$QSCOPE" ppl "$M" "$TXT" --score most
expect_fail "unknown option" "unknown option" -- "$QSCOPE" ppl "$M" "$TXT" --frobnicate
summary
