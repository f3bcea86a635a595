# experiments/formats_kv.lua with small parameters: every table it writes is there with a row
# per configuration and model, the formats run at their own bits (MXFP4 4.25 a whole block,
# NVFP4 about 4.5 bits per value), 8-bit caches cost less than 4-bit ones, the persistence shares are
# shares, and the profile run holds the attention statistics with one value per layer and
# head; what the script prints matches the tables.
. "$QS_ROOT/tests/lib/common.sh"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
PY=/usr/bin/python3

expect_ok formats_kv -- "$QSCOPE" run "$QS_ROOT/experiments/formats_kv.lua" tokens=256 eval_tokens=128 ctx=128 \
    kv_tokens=64 out="$TMP/f.h5"
cp "$TMP/out" "$TMP/stdout"
check "tables and numbers" $PY - "$TMP/f.h5" "$TMP/stdout" <<'PYEOF'
import math, re, sys
import h5py
import numpy as np
f = h5py.File(sys.argv[1], "r")
out = open(sys.argv[2]).read()
run = f["runs"][str(max(int(k) for k in f["runs"]))]
dec = lambda b: b.decode()
fm = run["ppl/formats"][()]
cfgs = [dec(c) for c in fm["config"]]
assert len(fm) == 2 * len(set(cfgs)), len(fm)
assert set(dec(m) for m in fm["model"]) == {"original", "planted"}
assert all(dec(e) == "" for e in fm["error"]), [dec(e) for e in fm["error"] if dec(e)]
assert np.all(np.isfinite(fm["ppl_q"])) and np.all(fm["ppl_q"] > 1)
bpv = {dec(c): a for c, a in zip(fm["config"], fm["a_bits_per_value"])}
# 4 + 8/32 where a row is whole blocks; hidden 172 ends in a short block (4 + 6*8/172)
assert 4.25 <= bpv["W16A4 mxfp4"] <= 4 + 6 * 8 / 172, bpv["W16A4 mxfp4"]
assert 4.5 < bpv["W16A4 nvfp4"] < 4.6, bpv["W16A4 nvfp4"]
wbpv = {dec(c): w for c, w in zip(fm["config"], fm["w_bits_per_value"])}
assert 4.25 <= wbpv["W4A4 mxfp4"] <= 4 + 6 * 8 / 172, wbpv["W4A4 mxfp4"]
kv = run["ppl/kv"][()]
assert all(dec(e) == "" for e in kv["error"])
ratio = {(dec(m), dec(c)): r for m, c, r in zip(kv["model"], kv["config"], kv["ppl_ratio"])}
kvb = {dec(c): b for c, b in zip(kv["config"], kv["kv_bits_per_value"])}
assert kvb["W16A16 KV4 mxfp4"] == 4.25 and kvb["W16A16 KV8 per-token"] > 8
for m in ("original", "planted"):
    assert ratio[m, "W16A16 KV8 per-token"] < ratio[m, "W16A16 KV4 per-token"], m
kc = run["kv_channels"][()]
assert len(kc) == 2 * 5
assert np.all((kc["k_persistence"] > 0) & (kc["k_persistence"] <= 1))
assert np.all((kc["v_persistence"] > 0) & (kc["v_persistence"] <= 1))
a = run["attention"]
sm = a["sink_mass"][()]
assert sm.shape == (5, 8) and np.all((sm >= 0) & (sm <= 1 + 1e-9))
assert a["sink_fraction"].shape == (5,)
assert "massive_sinks" in a
al = run["attention_layers"][()]
assert np.allclose(np.sort(al["layer"]), np.arange(5))
# the printed sections match the tables
assert "== 1. formats" in out and "== 2. KV-cache" in out and "== 4. attention" in out
m = re.search(r"^W16A4 mxfp4\s+mx\s+([\d.]+)\s+([\d.]+)", out, re.M)
orig = fm[(fm["config"] == b"W16A4 mxfp4") & (fm["model"] == b"original")][0]
assert m and abs(float(m.group(2)) - orig["ppl_q"]) < 1e-3 * orig["ppl_q"], (m and m.groups())
PYEOF
summary
