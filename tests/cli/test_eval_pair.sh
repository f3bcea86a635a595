# qscope eval BASE QUANT TEXT and m:eval{base = other}: a quantized model against its base.
#  - a model against itself: KLD exactly 0, PPL ratio 1, top-1 agreement 1;
#  - a packed twin (m:quantize) against its base gives the numbers m:eval{config} gives for
#    the same config, bit for bit (W4 g32, and NVFP4 with its bytes as reported); saved to a GGUF file and evaluated from the command line,
#    the same again (the file holds exactly the packed values);
#  - llama.cpp's Q8_0 file of the same model: a small KLD, > 8 stored bits per weight;
#  - models of different shapes are refused, naming the field; -o appends a row.
. "$QS_ROOT/tests/lib/common.sh"
M=$QS_ROOT/data/models/stories260K.bin
TOK=$QS_ROOT/data/models/tok512.bin
TEXT=$QS_ROOT/data/text/tinystories_v2_valid_head100.txt
W=(--ctx 128 --max-tokens 1500 --threads 1)

expect_ok "self" -- "$QSCOPE" eval "$M" "$M" "$TEXT" "${W[@]}" --json
r() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"][sys.argv[2]])' "$TMP/out" "$1"; }
check "self: KLD 0" approx "$(r kld_mean)" 0 0
check "self: top-1 agreement 1" approx "$(r top1_agree)" 1 0
check "self: PPL ratio 1" approx "$(r ppl_ratio)" 1 0

cat > "$TMP/pair.lua" <<LUA
local m = qs.model("$M")
local t = qs.text("$TEXT")
local q = m:quantize("W4A16 g32")
local a = m:eval{config = "W4A16 g32", text = t, ctx = 128, max_tokens = 1500}
local b = q:eval{base = m, text = t, ctx = 128, max_tokens = 1500}
print(string.format("%.17g %.17g %.17g", a.kld_mean, a.ppl_q, a.w_bits_per_value))
print(string.format("%.17g %.17g %.17g", b.kld_mean, b.ppl_q, b.w_bits_per_value))
q:save("$TMP/w4.gguf", {format = "gguf"})
-- a floating-point format packs too: NVFP4's E2M1 codes, E4M3 block scales, f32 tensor scale
local n = m:quantize("W4A16 nvfp4")
local c = m:eval{config = "W4A16 nvfp4", text = t, ctx = 128, max_tokens = 1500}
local d = n:eval{base = m, text = t, ctx = 128, max_tokens = 1500}
print(string.format("%.17g %.17g %.17g %.17g", c.kld_mean, d.kld_mean, c.w_bits_per_value,
                    d.w_bits_per_value))
LUA
expect_ok "lua pair" -- "$QSCOPE" run "$TMP/pair.lua" --threads 1
read -r ka pa ba < <(sed -n 1p "$TMP/out")
read -r kb pb bb < <(sed -n 2p "$TMP/out")
check "twin vs config: same KLD ($ka, $kb)" [ "$ka" = "$kb" ]
check "twin vs config: same PPL(Q)" [ "$pa" = "$pb" ]
check "twin: packed bits per value ($bb) as reported ($ba)" approx "$bb" "$ba" 0.02
read -r kc kd bc bd < <(sed -n 3p "$TMP/out")
check "nvfp4 twin vs config: same KLD ($kc, $kd)" [ "$kc" = "$kd" ]
check "nvfp4 twin: stored bits ($bd) as reported ($bc)" approx "$bd" "$bc" 1e-9
expect_ok "saved twin" -- "$QSCOPE" eval "$M" "$TMP/w4.gguf" "$TEXT" "${W[@]}" --tokenizer "$TOK" --json
check "saved twin: same KLD" approx "$(r kld_mean)" "$ka" 0
check "saved twin: f32 file, 32 bits stored" approx "$(r w_bits_per_value)" 32 0

expect_ok "llama.cpp Q8_0" -- "$QSCOPE" eval "$M" "$QS_ROOT/tests/fixtures/stories260K-Q8_0.gguf" "$TEXT" "${W[@]}" --json -o "$TMP/r.h5"
check "Q8_0: small KLD" approx "$(r kld_mean)" 0.0005 0.0005
check "Q8_0: KLD > 0" /usr/bin/python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)' "$(r kld_mean)"
check "Q8_0: > 8 bits stored" approx "$(r w_bits_per_value)" 10 2
check "Q8_0: memory reported" /usr/bin/python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["memory"]; sys.exit(0 if m["peak_rss_bytes"] > 0 and m["mapped_bytes"] > 0 else 1)' "$TMP/out"
check "row appended" /usr/bin/python3 -c '
import h5py, sys
f = h5py.File(sys.argv[1], "r")
run = f["runs"][str(f["runs"].attrs["latest"])]
rows = run["ppl/eval"][:]
sys.exit(0 if len(rows) == 1 and rows["config"][0].decode().startswith("file:stories260K-Q8_0") else 1)' "$TMP/r.h5"

"$QSCOPE" synth -o "$TMP/other.bin" --dim 64 --hidden 128 --layers 5 --heads 8 --kv-heads 4 --vocab 512 2>/dev/null
expect_fail "shape mismatch" "not the same model: hidden_dim 172 vs 128" -- "$QSCOPE" eval "$M" "$TMP/other.bin" "$TEXT" --tokenizer "$TOK"
expect_fail "config with two models" "apply to MODEL TEXT" -- "$QSCOPE" eval "$M" "$M" "$TEXT" --config "W8A8"
summary
