# The remedies end to end: config names with remedy words through `qscope eval` (JSON row
# fields, the chosen exponent, decomposition's wide fractions, refused combinations), and
# experiments/remedies.lua on a small grid with scripts/figures drawing its two figures.
# What each remedy must do on the planted copy (x 80 at attn_in and ffn_down_in, every layer):
# smoothing takes W8A8 per-tensor from a collapse back near the base, rotation flattens the
# planted attn_in (kurtosis near 3), and every function-preserving transform leaves W16A16
# exactly at the base perplexity.
. "$QS_ROOT/tests/lib/common.sh"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
PY=/usr/bin/python3
M=$QS_ROOT/data/models/stories260K.bin
T=$QS_ROOT/data/text/tinystories_v2_valid_head100.txt
C=$QS_ROOT/data/text/tinystories_v1_valid_head.txt
E=("$QSCOPE" eval "$M" "$T" --ctx 64 --max-tokens 1024 --calib "$C" --calib-windows 4 --json)

for cfg in "W16A16 rotate" "W16A16 smooth:0.5" "W16A16 rotate:resid,seed=3"; do
    expect_ok "$cfg" -- "${E[@]}" --config "$cfg"
    check "$cfg keeps PPL" $PY -c 'import json,sys; r=json.load(open(sys.argv[1]))["result"]; sys.exit(abs(r["ppl_q"]/r["ppl_base"]-1) > 1e-4)' "$TMP/out"
done
expect_ok "smooth searched" -- "${E[@]}" --config "W8A8 per-tensor smooth"
check "searched exponent reported, name kept" $PY -c '
import json, sys
d = json.load(open(sys.argv[1])); r = d["result"]
a = r["remedy_alpha"]
sys.exit(not (d["config"] == "W8A8 per-tensor smooth" and a is not None and 0 < a < 1 and abs(a * 20 - round(a * 20)) < 1e-9))' "$TMP/out"
expect_ok "decompose" -- "${E[@]}" --config "W16A4 per-token decompose:2"
check "decomposition fractions" $PY -c '
import json, sys
r = json.load(open(sys.argv[1]))["result"]
sys.exit(not (0 < r["a_wide_cols_frac"] < 1 and r["a_wide_values_frac"] > 0 and r["a_bits_per_value"] > 4.1 and r["remedy_alpha"] is None))' "$TMP/out"
expect_ok "gptq text report" -- "$QSCOPE" eval "$M" "$T" --ctx 64 --max-tokens 512 --calib "$C" --config "W3A16 g32 gptq:act-order"
check "gptq row named" grep -q "W3A16 g32 gptq:act-order" "$TMP/out"
expect_fail "decompose on A16" "has A16" -- "${E[@]}" --config "W4A16 decompose"
expect_fail "smooth and awq" "choose one" -- "${E[@]}" --config "W4A16 smooth awq"
expect_fail "gptq on W16" "W16" -- "${E[@]}" --config "W16A8 gptq"

# sweeps: rotate and decompose raise the planted attn_in's A8 per-tensor SQNR; gptq refused
expect_ok "plant" -- "$QSCOPE" plant "$M" -o "$TMP/p.bin" --plant attn_in:all:17:80
SW=("$QSCOPE" sweep "$TMP/p.bin" "$T" --tokenizer "$QS_ROOT/data/models/tok512.bin" --bits 8 --gran tensor
    --clip absmax --sites attn_in --targets activations --tokens 128 --ctx 64 --json)
expect_ok "sweep" -- "${SW[@]}"
cp "$TMP/out" "$TMP/sw0.json"
expect_ok "sweep rotate" -- "${SW[@]}" --remedy rotate
cp "$TMP/out" "$TMP/sw1.json"
expect_ok "sweep decompose" -- "${SW[@]}" --remedy decompose
cp "$TMP/out" "$TMP/sw2.json"
check "sweep remedies raise SQNR" $PY -c '
import json, sys
m = [sum(r["sqnr_db"] for r in json.load(open(f))["rows"]) / 5 for f in sys.argv[1:]]
b = [json.load(open(f))["rows"][0]["bits_per_value"] for f in sys.argv[1:]]
print("attn_in A8 per-tensor SQNR (dB): none %.1f, rotate %.1f, decompose %.1f" % tuple(m))
sys.exit(not (m[1] > m[0] + 10 and m[2] > m[0] + 10 and b[2] > b[0]))' "$TMP/sw0.json" "$TMP/sw1.json" "$TMP/sw2.json"
expect_fail "sweep gptq" "layer-output error" -- "${SW[@]}" --remedy gptq
expect_fail "sweep searched smooth" "give the exponent" -- "${SW[@]}" --remedy smooth

expect_ok "remedies.lua (small)" -- "$QSCOPE" run "$QS_ROOT/experiments/remedies.lua" tokens=512 ctx=64 \
    profile_tokens=512 calib_windows=4 attribute=true bases="W8A8 per-tensor,W4A16 per-tensor" \
    remedies="none,smooth:0.5,rotate,decompose" transforms="W16A8 rotate,W8A8 smooth:0.5" out="$TMP/r.h5"
check "remedies tables" $PY - "$TMP/r.h5" <<'PYEOF'
import sys
import h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
run = f["runs/1"]
t = run["ppl/remedies"][()]
rows = {(r["model"].decode(), r["base"].decode(), r["remedy"].decode()): r for r in t}
ok = len(t) == 2 * 2 * 4
plant = "planted x80"
none = rows[(plant, "W8A8 per-tensor", "none")]["ppl_ratio"]
smooth = rows[(plant, "W8A8 per-tensor", "smooth:0.5")]["ppl_ratio"]
ok &= none > 5 and smooth < 1.1                    # the collapse, and smoothing undoing it
ok &= rows[(plant, "W4A16 per-tensor", "decompose")]["error"].decode() != ""   # A16: not run
ok &= rows[("shipped", "W8A8 per-tensor", "decompose")]["error"].decode() == ""
s = run["ppl/remedies_sites"][()]
ok &= {x.decode() for x in s["scope"]} == {"site:attn_in", "site:attn_o_in", "site:ffn_in", "site:ffn_down_in"}
o = run["remedies/outliers"][()]
rot = [r for r in o if r["model"].decode() == plant and r["remedy"].decode().endswith("rotate") and
       r["site"].decode() == "attn_in"]
ok &= len(rot) == 5 and all(r["kurtosis_before"] > 50 and r["kurtosis_after"] < 4 for r in rot)
ok &= int(run["remedies"].attrs["rotated_run"]) == 2 and "stats" in f["runs/2"]
print(f"planted W8A8 per-tensor: ratio {none:.2f} -> {smooth:.4f} with smooth:0.5; "
      f"attn_in kurtosis after rotation {[round(float(r['kurtosis_after']), 2) for r in rot]}")
sys.exit(0 if ok else 1)
PYEOF
expect_ok "figures" -- "$QS_ROOT/scripts/figures" "$TMP/r.h5" -o "$TMP/fig" --format png --runs 1
check "remedies figure" test -s "$TMP/fig/run1_remedies.png"
check "rotation heatmaps" test -s "$TMP/fig/run1_rotation_heatmaps.png"
summary
