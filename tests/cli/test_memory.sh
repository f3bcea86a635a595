# The memory calculator on the seed's worked example: 8B parameters at 4 bits with one fp16
# scale per 128 weights = 4 GB + 0.125 GB; a 32-layer, 8-kv-head, head_dim 128 model holding
# 8,192 fp16 tokens needs 2·32·8·128·8192·2 B = 1 GiB of KV cache per request.
. "$QS_ROOT/tests/lib/common.sh"
MAX_BYTES_ERROR=1      # byte counts computed in double
MAX_BITS_ERROR=1e-12   # bits per weight, a ratio in double
expect_ok seed -- "$QSCOPE" memory --params 8e9 --bits 4 --group 128 --layers 32 --kv-heads 8 --head-dim 128 --seq 8192 --json
check "weights 4 GB" approx "$(json_get "$TMP/out" weight_bytes)" 4e9 "$MAX_BYTES_ERROR"
check "scales 0.125 GB" approx "$(json_get "$TMP/out" scale_bytes)" 1.25e8 "$MAX_BYTES_ERROR"
check "KV 1 GiB" approx "$(json_get "$TMP/out" kv_bytes)" 1073741824 "$MAX_BYTES_ERROR"
check "4.125 bits/weight" approx "$(json_get "$TMP/out" bits_per_weight)" 4.125 "$MAX_BITS_ERROR"
# the same request with a quantized cache: bits with their scales (4 + 16/32; MXFP4 4 + 8/32)
expect_ok kv4 -- "$QSCOPE" memory --params 8e9 --bits 4 --layers 32 --kv-heads 8 --head-dim 128 --seq 8192 --kv "KV4 g32" --json
check "KV4 g32: 4.5 bits" approx "$(json_get "$TMP/out" kv_bits_per_value)" 4.5 "$MAX_BITS_ERROR"
check "KV4 g32: 0.28125 GiB" approx "$(json_get "$TMP/out" kv_bytes)" 301989888 "$MAX_BYTES_ERROR"
expect_ok mx -- "$QSCOPE" memory --params 8e9 --bits 4 --layers 32 --kv-heads 8 --head-dim 128 --seq 8192 --kv "KV4 mxfp4" --json
check "KV4 mxfp4: 4.25 bits" approx "$(json_get "$TMP/out" kv_bits_per_value)" 4.25 "$MAX_BITS_ERROR"
expect_fail "bad kv" "4-bit elements" -- "$QSCOPE" memory --params 1e9 --layers 2 --kv-heads 2 --head-dim 8 --seq 8 --kv "KV8 mxfp4"
expect_ok model -- "$QSCOPE" memory --model "$QS_ROOT/data/models/stories260K.bin" --bits 8 --group 32 --json
check "model params" approx "$(json_get "$TMP/out" params)" 260032 0
expect_fail "bad bits" "bits" -- "$QSCOPE" memory --params 1e9 --bits 0
summary
