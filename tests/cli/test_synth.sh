# qscope synth: the published shapes carry the published parameter counts (Llama 2 7B
# 6,738,415,616; Llama 3 8B 8,030,261,248; Mistral 7B 7,241,732,096; Qwen2.5 7B
# 7,615,616,512), checked without writing them (--dry-run); small models in every format
# load back with the stored type asked for, the same seed writes the same bytes, and what a
# format cannot hold is refused by name.
. "$QS_ROOT/tests/lib/common.sh"
TOK=$QS_ROOT/data/models/tok512.bin
TEXT=$QS_ROOT/data/text/tinystories_v2_valid_head100.txt
for sp in llama2-7b:6738415616:13476831232 llama3-8b:8030261248:16060522496 \
          mistral-7b:7241732096:14483464192 qwen2.5-7b:7615616512:15231233024; do
    IFS=: read -r shape params bytes <<< "$sp"
    expect_ok "$shape dry run" -- "$QSCOPE" synth --shape "$shape" --format hf --dtype bf16 --dry-run --json
    check "$shape: $params parameters" approx "$(json_get "$TMP/out" params)" "$params" 0
    check "$shape: $bytes bf16 bytes" approx "$(json_get "$TMP/out" weight_bytes)" "$bytes" 0
done
expect_ok "qwen kv heads" -- "$QSCOPE" synth --shape qwen2.5-7b --layers 2 --format hf --dry-run --json
check "qwen2.5-7b: 4 kv heads, 2 layers" [ "$(json_get "$TMP/out" n_kv_heads):$(json_get "$TMP/out" n_layers)" = 4:2 ]

SMALL=(--dim 256 --hidden 512 --layers 2 --heads 4 --kv-heads 2 --vocab 512 --seq 128)
for f in llama2c:f32:F32 gguf:f16:F16,F32 gguf:q8_0:Q8_0,F32 gguf:q4_0:Q4_0,F32 hf:bf16:BF16 hf:f32:F32; do
    IFS=: read -r fmt dt stored <<< "$f"
    out=$TMP/m_${fmt}_$dt
    expect_ok "write $fmt $dt" -- "$QSCOPE" synth -o "$out" --format "$fmt" --dtype "$dt" "${SMALL[@]}" --shard-gb 0.001
    expect_ok "info $fmt $dt" -- "$QSCOPE" info "$out" --tokenizer "$TOK" --json
    check "$fmt $dt stored as $stored" [ "$(json_get "$TMP/out" stored_types)" = "$stored" ]
    check "$fmt $dt: 2 kv heads" [ "$(json_get "$TMP/out" n_kv_heads)" = 2 ]
    expect_ok "ppl $fmt $dt" -- "$QSCOPE" ppl "$out" "$TEXT" --tokenizer "$TOK" --ctx 64 --max-tokens 200 --json
    # random N(0, 1/in) weights: a perplexity of the order of the vocabulary (512)
    check "$fmt $dt: ppl near the vocabulary size" approx "$(json_get "$TMP/out" ppl)" 600 500
done
shards=$(ls "$TMP/m_hf_f32" | grep -c '^model-0000[0-9]-of-0000[0-9].safetensors$')
check "hf: $shards shards of at most 1 MB and an index" [ "$shards" -ge 3 -a -e "$TMP/m_hf_f32/model.safetensors.index.json" ]
expect_ok "same seed" -- "$QSCOPE" synth -o "$TMP/again.gguf" --format gguf --dtype f16 "${SMALL[@]}"
check "same seed, same bytes" cmp -s "$TMP/again.gguf" "$TMP/m_gguf_f16"
expect_ok "other seed" -- "$QSCOPE" synth -o "$TMP/other.gguf" --format gguf --dtype f16 "${SMALL[@]}" --seed 2
check "other seed, other bytes" bash -c '! cmp -s "$1" "$2"' _ "$TMP/other.gguf" "$TMP/m_gguf_f16"
# a preset's theta and eps survive overridden dimensions
expect_ok "cut preset" -- "$QSCOPE" synth -o "$TMP/q3" --format hf --shape qwen2.5-7b --layers 1 --dim 128 --hidden 256 --heads 4 --kv-heads 2 --vocab 512 --seq 256
expect_ok "cut preset info" -- "$QSCOPE" info "$TMP/q3" --json
check "qwen2 arch" [ "$(json_get "$TMP/out" arch)" = qwen2 ]
check "qwen2.5 theta 1e6" approx "$(json_get "$TMP/out" rope_theta)" 1e6 0
check "qwen2.5 eps 1e-6" approx "$(json_get "$TMP/out" norm_eps)" 1e-6 1e-12

expect_fail "llama2c theta" "theta" -- "$QSCOPE" synth -o "$TMP/x.bin" --shape llama3-8b --layers 1 --dim 64 --hidden 64 --heads 2 --kv-heads 2 --vocab 64
expect_fail "gguf biases" "biases" -- "$QSCOPE" synth -o "$TMP/x.gguf" --format gguf --shape qwen2.5-7b --layers 1 --dim 64 --hidden 64 --heads 2 --kv-heads 2 --vocab 64
expect_fail "hf q4_0" "Q4_0" -- "$QSCOPE" synth -o "$TMP/xhf" --format hf --dtype q4_0 "${SMALL[@]}"
expect_fail "bad shape" "unknown --shape" -- "$QSCOPE" synth -o "$TMP/x" --shape gpt-5
check "nothing left behind" [ ! -e "$TMP/x.bin" -a ! -e "$TMP/x.gguf" -a ! -e "$TMP/xhf/config.json" ]
summary
