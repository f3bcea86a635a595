# qscope bench --speed, qs.bench_speed and experiments/seed_speed.lua on a tiny synthetic GGUF
# (dim 256, 2 layers: seconds). No timing is asserted: the rows' structure and arithmetic are.
#  - every format x path x phase asked for is a row (int8dot only for formats with integer
#    kernels); weight bytes per token are the stored bytes of the matrices (+ norms and one
#    embedding row), recomputed here from the formats' bits; gbs, the fractions and the
#    prediction follow from tokens/s, bytes, FLOPs and the limits as speed.h defines them;
#  - the HDF5 rows (/runs/<n>/speed and its limit attributes) equal the JSON rows;
#  - Lua returns the same rows (formats, paths, phases, bytes); unknown names are refused;
#  - seed_speed.lua: five claims, each verdict the AND of its checks, its ratios recomputed
#    from its own speed rows; scripts/figures draws the roofline and the decode bars;
#  - ppl --path: int8dot's effect on a Q8_0 model's NLL is small but not zero.
. "$QS_ROOT/tests/lib/common.sh"
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
PY=/usr/bin/python3
G=$TMP/tiny.gguf
expect_ok synth -- "$QSCOPE" synth -o "$G" --format gguf --layers 2 --dim 256 --hidden 768 \
    --heads 4 --kv-heads 4 --vocab 512 --seq 256
FORMATS="f32,bf16,Q8_0,Q4_0,Q4_K,int8 per-channel,int4 g32 affine"
SPEED=(--speed --model "$G" --reps 1 --decode-tokens 2 --kv 16 --prefill-tokens 32 --triad-gib 0.05)
expect_ok "bench --speed" -- "$QSCOPE" bench "${SPEED[@]}" --formats "$FORMATS" --json \
    --out "$TMP/s.h5"
cp "$TMP/out" "$TMP/s.json"

check "rows: every format x path x phase; bytes, rates and predictions consistent" \
    $PY - "$TMP/s.json" "$FORMATS" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
formats = sys.argv[2].split(",")
lim, rows = d["limits"], d["rows"]
assert lim["sgemm_gflops"] > 0 and lim["bandwidth_gbs"] > 0, lim
keys = {"format", "path", "phase", "tokens_per_s", "weight_bytes_per_token", "gbs",
        "bandwidth_fraction", "gflops", "peak_fraction", "predicted_tokens_per_s"}
for r in rows:
    assert set(r) == keys, set(r) ^ keys
int8 = {f["format"]: f["int8dot_kernels"] for f in d["run"]["formats"]}
want = {(f, p, ph) for f in formats for p in ("fused", "naive", "int8dot")
        for ph in ("decode", "prefill") if p != "int8dot" or int8[f] > 0}
got = [(r["format"], r["path"], r["phase"]) for r in rows]
assert len(got) == len(set(got)) and set(got) == want, set(got) ^ want
assert int8["f32"] == 0 and int8["bf16"] == 0 and int8["Q4_0"] > 0 and int8["int8 per-channel"] > 0
# bytes a decoded token reads: 2 layers x (4 x 256^2 + 3 x 256 x 768) + classifier 512 x 256
# weights at the format's bits, + 5 f32 norm vectors and one embedding row; synth ties the
# classifier to the embedding, so the twin's embedding row is in the format too
n = 2 * (4 * 256 * 256 + 3 * 256 * 768) + 512 * 256
norms = 4 * 256 * 5
bits = {"f32": 32, "bf16": 16, "Q8_0": 8.5, "Q4_0": 4.5, "Q4_K": 4.5,
        "int8 per-channel": None, "int4 g32 affine": 4 + (16 + 4) / 32}
rows_ = 2 * (4 * 256 + 2 * 768 + 256) + 512  # one fp16 scale per output row (int8 per-channel)
bits["int8 per-channel"] = 8 + 16 * rows_ / n
row_bits = dict(bits, **{"int8 per-channel": 8 + 16 / 256})  # a 256-wide embedding row
fi = {f["format"]: f for f in d["run"]["formats"]}
for f, b in bits.items():
    exp = n * b / 8 + norms + 256 * row_bits[f] / 8
    assert abs(fi[f]["weight_bytes_per_token"] - exp) <= 1e-9 * exp, (f, fi[f], exp)
    assert abs(fi[f]["bits_per_weight"] - b) < 1e-9, (f, fi[f]["bits_per_weight"], b)
T = 32
for r in rows:
    tps, B = r["tokens_per_s"], r["weight_bytes_per_token"]
    assert tps > 0, r
    exp_b = fi[r["format"]]["weight_bytes_per_token"] / (T if r["phase"] == "prefill" else 1)
    assert abs(B - exp_b) <= 1e-9 * exp_b, (r, exp_b)
    assert abs(r["gbs"] - B * tps / 1e9) <= 1e-9 * r["gbs"], r
    assert abs(r["bandwidth_fraction"] - r["gbs"] / lim["bandwidth_gbs"]) <= 1e-9 * r["bandwidth_fraction"], r
    assert abs(r["peak_fraction"] - r["gflops"] / lim["sgemm_gflops"]) <= 1e-9 * r["peak_fraction"], r
    flops = r["gflops"] * 1e9 / tps
    pred = min(lim["bandwidth_gbs"] * 1e9 / B, lim["sgemm_gflops"] * 1e9 / flops)
    assert abs(r["predicted_tokens_per_s"] - pred) <= 1e-9 * pred, (r, pred)
# FLOPs per token: the same for every format and path of a phase
for ph in ("decode", "prefill"):
    fl = [r["gflops"] / r["tokens_per_s"] for r in rows if r["phase"] == ph]
    assert max(fl) - min(fl) <= 1e-9 * max(fl), (ph, fl)
PYEOF

check "HDF5 rows and limits equal the JSON" $PY - "$TMP/s.json" "$TMP/s.h5" <<'PYEOF'
import json, sys
import h5py
d = json.load(open(sys.argv[1]))
f = h5py.File(sys.argv[2], "r")
t = f["runs/1/speed"]
assert abs(t.attrs["sgemm_gflops"] - d["limits"]["sgemm_gflops"]) < 1e-9 * d["limits"]["sgemm_gflops"]
assert abs(t.attrs["bandwidth_gbs"] - d["limits"]["bandwidth_gbs"]) < 1e-9 * d["limits"]["bandwidth_gbs"]
rows = t[()]
assert len(rows) == len(d["rows"])
for h, j in zip(rows, d["rows"]):
    for k, v in j.items():
        hv = h[k].decode() if isinstance(h[k], bytes) else float(h[k])
        assert hv == v if isinstance(v, str) else abs(hv - v) <= 1e-12 * abs(v), (k, hv, v)
PYEOF

cat >"$TMP/s.lua" <<'LUA'
local p = declare_params{ model = "" }
local m = qs.model(p.model)
local r = qs.bench_speed{ model = m, formats = { "Q4_0", "int4 g32 affine" }, phases = "decode",
                          paths = "fused,int8dot", reps = 1, decode_tokens = 2, kv = 8, gib = 0.05 }
assert(r.limits.sgemm_gflops > 0 and r.limits.bandwidth_gbs > 0)
assert(#r.rows == 4 and #r.formats == 2, #r.rows)
for _, x in ipairs(r.rows) do
    print(string.format("%s|%s|%s|%.17g", x.format, x.path, x.phase, x.weight_bytes_per_token))
end
local ok, err = pcall(qs.bench_speed, { model = m, formats = "Q5_9" })
assert(not ok and err:find("unknown format 'Q5_9'"), err)
ok, err = pcall(qs.bench_speed, { model = m, paths = "fast" })
assert(not ok and err:find("unknown path.*'fast'"), err)
ok, err = pcall(qs.bench_speed, { formats = "f32" })
assert(not ok and err:find("model"), err)
LUA
expect_ok "qs.bench_speed" -- "$QSCOPE" run "$TMP/s.lua" model="$G"
check "Lua rows: the JSON's formats, paths and bytes" $PY - "$TMP/out" "$TMP/s.json" <<'PYEOF'
import json, sys
lua = [l.split("|") for l in open(sys.argv[1]).read().split("\n") if l.count("|") == 3]
d = json.load(open(sys.argv[2]))
want = {(r["format"], r["path"], r["phase"]): r["weight_bytes_per_token"] for r in d["rows"]}
assert [(f, p, ph) for f, p, ph, _ in lua] == [("Q4_0", "fused", "decode"), ("Q4_0", "int8dot", "decode"),
        ("int4 g32 affine", "fused", "decode"), ("int4 g32 affine", "int8dot", "decode")], lua
for f, p, ph, b in lua:
    assert float(b) == want[f, p, ph], (f, p, ph, b)
PYEOF
expect_fail "unknown format" "format 'int4 bogus': unknown word" -- "$QSCOPE" bench "${SPEED[@]}" --formats "f32,int4 bogus"
expect_fail "unknown phase" "unknown phase.*'decoding'" -- "$QSCOPE" bench "${SPEED[@]}" --phases decoding
expect_fail "cache past the context" "exceeds the context" -- "$QSCOPE" bench "${SPEED[@]}" --formats f32 --kv 300

expect_ok seed_speed -- "$QSCOPE" run "$QS_ROOT/experiments/seed_speed.lua" model="$G" reps=1 kv=16 \
    decode_tokens=2 prefill_tokens=32 gib=0.05 int4="int4 g32" out="$TMP/c.h5"
cp "$TMP/out" "$TMP/claims.txt"
check "seed_speed: five verdicts, each the AND of its checks, ratios from its rows" \
    $PY - "$TMP/c.h5" "$TMP/claims.txt" <<'PYEOF'
import re, sys
import h5py
f = h5py.File(sys.argv[1], "r")
out = open(sys.argv[2]).read()
g = f["runs/1"]
c, sp = g["claims"][()], g["speed"][()]
dec = lambda b: b.decode()
names = list(dict.fromkeys(dec(x) for x in c["claim"]))
assert len(names) == 5, names
printed = re.findall(r"^   => (HOLDS|DOES NOT HOLD)$", out, re.M)
assert len(printed) == 5, printed
for name, p in zip(names, printed):
    rows = c[c["claim"] == name.encode()]
    v = rows[rows["measurement"] == b"verdict"]
    checks = rows[rows["measurement"] != b"verdict"]
    assert len(v) == 1 and len(checks) >= 1
    assert bool(v["holds"][0]) == all(checks["holds"] == 1) == (p == "HOLDS"), name
row = {(dec(r["format"]), dec(r["path"]), dec(r["phase"])): r for r in sp}
def val(m):
    r = c[c["measurement"] == m.encode()]
    assert len(r) == 1, m
    return float(r["value"][0])
bf, i4 = row["bf16", "fused", "decode"], row["int4 g32", "fused", "decode"]
sr = i4["tokens_per_s"] / bf["tokens_per_s"]
br = bf["weight_bytes_per_token"] / i4["weight_bytes_per_token"]
assert abs(val("speed ratio / byte ratio") - sr / br) <= 1e-12 * sr / br
f32p = row["f32", "fused", "prefill"]
w8 = row["int8 per-channel", "int8dot", "prefill"]
assert abs(val("W8A8 / f32 prefill tokens/s") - w8["tokens_per_s"] / f32p["tokens_per_s"]) <= 1e-12 * 10
hi = max(r["peak_fraction"] for r in sp if r["path"] == b"fused" and r["phase"] == b"decode")
assert abs(val("highest decode GFLOP/s / sgemm peak (fused)") - hi) <= 1e-15
assert re.search(r"^   \d of 5 claims hold on this machine$", out, re.M)
PYEOF

# ppl --path: int8dot (W8A8 per block) moves a Q8_0 model's NLL a little, not a lot; the
# naive path computes what the fused one does up to rounding
TXT=$QS_ROOT/data/text/tinystories_v2_valid_head100.txt
for p in fused naive int8dot; do
    "$QSCOPE" ppl "$QS_ROOT/tests/fixtures/stories260K-Q8_0.gguf" "$TXT" --ctx 128 --max-tokens 2048 \
        --path $p --json > "$TMP/ppl.$p.json" 2>/dev/null || bad "ppl --path $p"
done
check "ppl --path: naive = fused to rounding; int8dot differs by under 1% of the NLL" \
    $PY - "$TMP/ppl.fused.json" "$TMP/ppl.naive.json" "$TMP/ppl.int8dot.json" <<'PYEOF'
import json, sys
f, n, i = (json.load(open(p)) for p in sys.argv[1:4])
assert f["path"] == "fused" and n["path"] == "naive" and i["path"] == "int8dot"
assert f["tokens_scored"] == i["tokens_scored"] > 1000
assert abs(n["nll"] - f["nll"]) < 1e-4 * f["nll"], (n["nll"], f["nll"])
assert 0 < abs(i["nll"] - f["nll"]) < 0.01 * f["nll"], (i["nll"], f["nll"])
PYEOF
expect_fail "ppl --path bad" "not fused, naive or int8dot" -- "$QSCOPE" ppl "$QS_ROOT/tests/fixtures/stories260K.gguf" "$TXT" --path fast

expect_ok figures -- "$QS_ROOT/scripts/figures" "$TMP/s.h5" -o "$TMP/fig" --format png
check "figures: roofline and decode bars" test -s "$TMP/fig/run1_roofline.png" -a -s "$TMP/fig/run1_decode_speed.png"
expect_ok "figures of seed_speed" -- "$QS_ROOT/scripts/figures" "$TMP/c.h5" -o "$TMP/fig2" --format png
check "seed_speed figures" test -s "$TMP/fig2/run1_roofline.png" -a -s "$TMP/fig2/run1_decode_speed.png"
summary
