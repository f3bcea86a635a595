# What qscope eval and qscope sweep record: HDF5 tables appended row by row (ppl/<name>
# with scope rows for attribution, sweeps/<name> with error rows), provenance, JSON rows,
# and attribution by layer leaving a side alone on layers its config skips.
. "$QS_ROOT/tests/lib/common.sh"
M="$QS_ROOT/data/models/stories260K.bin"
T="$QS_ROOT/data/text/tinystories_v2_valid_head100.txt"
E=("$QSCOPE" eval "$M" "$T" --max-tokens 500 --ctx 64 --threads 1)

# "W4A8 w:layers:1": weights only in layer 1. Layer 0's attribution row must equal the
# activations alone in layer 0 ("W16A8 layers:0"), bit for bit.
expect_ok "attribute layers" -- "${E[@]}" --config "W4A8 w:layers:1" --attribute layers --json -o "$TMP/r.h5" --name attr
cp "$TMP/out" "$TMP/attr.json"
expect_ok "act layer 0" -- "${E[@]}" --config "W16A8 layers:0" --json -o "$TMP/r.h5" --name attr
cp "$TMP/out" "$TMP/a0.json"
expect_ok "weights layer 1 + act layer 1" -- "${E[@]}" --config "W4A8 layers:1" --json
cp "$TMP/out" "$TMP/wa1.json"
check "attribution rows" /usr/bin/python3 - "$TMP" <<'PY'
import json, os, sys
sys.path.insert(0, os.path.join(os.environ["QS_ROOT"], "tests/ref"))
from witness import check as c, finish
d = sys.argv[1]
attr = json.load(open(d + "/attr.json"))
a0 = json.load(open(d + "/a0.json"))["result"]
wa1 = json.load(open(d + "/wa1.json"))["result"]
rows = {r["layer"]: r for r in attr["attribution"]}
c(sorted(rows) == ["0", "1", "2", "3", "4"], "layers 0..4")
c(rows["0"]["ppl_q"] == a0["ppl_q"] and rows["0"]["w_bits_per_value"] == 16, 'rows["0"]["ppl_q"] == a0["ppl_q"] and rows["0"]["w_bits_per_value"] == 16')
c(rows["1"]["ppl_q"] == wa1["ppl_q"] and rows["1"]["w_bits_per_value"] < 5, 'rows["1"]["ppl_q"] == wa1["ppl_q"] and rows["1"]["w_bits_per_value"] < 5')
c(attr["config"] == "W4A8 per-token w:layers:1", 'attr["config"] == "W4A8 per-token w:layers:1"')
sys.exit(finish("attribution rows"))
PY
expect_ok "attribute sites" -- "${E[@]}" --config "W8A8 per-tensor" --attribute sites -o "$TMP/r.h5"
expect_ok "sweep" -- "$QSCOPE" sweep "$M" "$T" --bits 4 --gran token,group:32 --clip absmax,percentile:99 --ctx 64 --tokens 100 --threads 1 --json -o "$TMP/r.h5" --name w4
cp "$TMP/out" "$TMP/sweep.json"
check "hdf5 tables and json rows" /usr/bin/python3 - "$TMP" <<'PY'
import json, os, sys, h5py, numpy as np
sys.path.insert(0, os.path.join(os.environ["QS_ROOT"], "tests/ref"))
from witness import check as c, finish
MAX_JSON_REL_ERROR = 1e-14  # cJSON prints 15 significant digits
d = sys.argv[1]
f = h5py.File(d + "/r.h5", "r")
runs = f["runs"]
c(sorted(runs.keys(), key=int) == ["1", "2", "3", "4"], "runs 1..4")   # appended, never overwritten
t = runs["1/ppl/attr"][:]
c(list(t["scope"]) == [b"all", b"layer:0", b"layer:1", b"layer:2", b"layer:3", b"layer:4"], 'list(t["scope"]) == [b"all", b"layer:0", b"layer:1", b"layer:2", b"layer:3", b"layer:4"]')
c(set(t["w_config"]) == {b"W4A16 per-channel layers:1"} and set(t["a_config"]) == {b"W16A8 per-token"}, 'set(t["w_config"]) == {b"W4A16 per-channel layers:1"} and set(t["a_config"]) == {b"W16A8 per-token"}')
c(set(t["config"]) == {b"W4A8 per-token w:layers:1"}, 'set(t["config"]) == {b"W4A8 per-token w:layers:1"}')
attr = json.load(open(d + "/attr.json"))
# cJSON prints 15 significant digits when they read back within an epsilon
c(abs(t["ppl_q"][0] / attr["result"]["ppl_q"] - 1) < MAX_JSON_REL_ERROR, "all row ppl_q as in json")
c(abs(t["ppl_q"][1] / attr["attribution"][0]["ppl_q"] - 1) < MAX_JSON_REL_ERROR, "layer:0 row ppl_q as in json")
# one list of names (core/eval_fields.h): every number of the JSON result is a column of the
# same name and value, and every column but the four labels is in the JSON
res = attr["result"]
labels = {"w_config", "a_config", "config", "scope"}
c(set(t.dtype.names) - labels == set(res), f"columns = json fields: {set(t.dtype.names) ^ (set(res) | labels)}")
for k, v in res.items():
    if k in t.dtype.names and k != "seconds":
        if v is None:  # a NaN is null in JSON (remedy_alpha without a remedy)
            c(t[k][0] != t[k][0], f"{k}: json null vs hdf5 {t[k][0]}")
            continue
        c(v == t[k][0] or abs(v - t[k][0]) <= MAX_JSON_REL_ERROR * abs(v) or (v != v and t[k][0] != t[k][0]), f"{k}: json {v} vs hdf5 {t[k][0]}")
for col in ("ppl_q_stderr", "ppl_base", "nll_q", "kld_mean", "kld_p99.9", "kld_median", "dp_min",
            "dp_rms", "top1_agree", "top5_overlap", "tokens"):
    c(col in t.dtype.names, col)
c(bool(np.all(t["tokens"] == 500)), 'bool(np.all(t["tokens"] == 500))')
c(runs["2/ppl/attr"].shape == (1,), 'runs["2/ppl/attr"].shape == (1,)')
t3 = runs["3/ppl/eval"][:]
c(list(t3["scope"]) == [b"all", b"site:attn_in", b"site:attn_o_in", b"site:ffn_in", b"site:ffn_down_in"], 'list(t3["scope"]) == [b"all", b"site:attn_in", b"site:attn_o_in", b"site:ffn_in", b"site:ffn_down_in"]')
p = runs["3/provenance"].attrs
c("eval" in p["command_line"] and len(p["model_sha256"]) == 64 and len(p["text_sha256"]) == 64, '"eval" in p["command_line"] and len(p["model_sha256"]) == 64 and len(p["text_sha256"]) == 64')
c(runs["3/model"].attrs["dim"] == 64, 'runs["3/model"].attrs["dim"] == 64')
s = runs["4/sweeps/w4"][:]
j = json.load(open(d + "/sweep.json"))
c(len(s) == j["n_rows"] == len(j["rows"]), 'len(s) == j["n_rows"] == len(j["rows"])')
# 35 weights x 2 grans x 2 clips + 4 sites x 5 layers x 4
c(len(s) == 35 * 4 + 20 * 4, 'len(s) == 35 * 4 + 20 * 4')
err = s[(s["target"] == b"weight") & (s["granularity"] == b"token")]
c(len(err) == 70 and all(b"activations only" in e for e in err["error"]), 'len(err) == 70 and all(b"activations only" in e for e in err["error"])')
c(j["n_errors"] == 70, 'j["n_errors"] == 70')
good = s[s["error"] == b""]
c(bool(np.all(good["mse"] > 0)) and bool(np.all(good["levels_mean"] <= 15)), 'bool(np.all(good["mse"] > 0)) and bool(np.all(good["levels_mean"] <= 15))')
c(set(s["clip_value"][s["clip"] == b"percentile"]) == {99.0}, 'set(s["clip_value"][s["clip"] == b"percentile"]) == {99.0}')
# the HDF5 row and the JSON row agree
k = [i for i, r in enumerate(j["rows"]) if r["error"] == ""][0]
c(abs(good["mse"][0] / j["rows"][k]["mse"] - 1) < MAX_JSON_REL_ERROR, "first row mse as in json")
# one list of names (sweep.h): every JSON row has exactly the table's columns, same values
c(all(set(r) == set(s.dtype.names) for r in j["rows"]), f"json keys = columns: {set(j['rows'][0]) ^ set(s.dtype.names)}")
for i, r in enumerate(j["rows"]):
    for name in s.dtype.names:
        v, h = r[name], s[name][i]
        h = h.decode() if isinstance(h, bytes) else h
        same = v == h or (v is None and not np.isfinite(h)) or (isinstance(v, float) and abs(v - h) <= MAX_JSON_REL_ERROR * abs(v))
        if not same:
            c(False, f"row {i} {name}: json {v!r} vs hdf5 {h!r}")
            break
sys.exit(finish("hdf5 tables and json rows"))
PY
summary
