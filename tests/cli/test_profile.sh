# qscope profile and qscope plant end to end: heavier tails at ffn_down_in than at attn_in
# on stories260K (per layer, from the JSON summary), three planted points found exactly,
# the HDF5 layout, append-only runs, and every bad input refused with nothing written.
. "$QS_ROOT/tests/lib/common.sh"
M=$QS_ROOT/data/models/stories260K.bin
TOK=$QS_ROOT/data/models/tok512.bin
MAX_PLANTED_NLL_ERROR=1e-5  # a planted copy computes the same function, in float32
TXT=$QS_ROOT/data/text/tinystories_v1_valid_head.txt
PY=/usr/bin/python3
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1   # a 260K model: threads only add overhead

# --- the original model: kurtosis per layer, no persistent outliers
expect_ok profile -- "$QSCOPE" profile "$M" "$TXT" -o "$TMP/a.h5" --tokens 16384 --ctx 512 --json
cp "$TMP/out" "$TMP/a.json"
check "ffn_down_in kurtosis > attn_in kurtosis at every layer" $PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
a = {e["layer"]: e["kurtosis"] for e in d["sites"]["attn_in"]}
f = {e["layer"]: e["kurtosis"] for e in d["sites"]["ffn_down_in"]}
assert sorted(a) == sorted(f) == [0, 1, 2, 3, 4], (a, f)
assert all(f[l] > a[l] for l in a), (a, f)
assert min(f.values()) > 10 and max(a.values()) < 10, (a, f)
assert d["tokens"] == 16384 and d["windows"] == 32, d["tokens"]
assert d["outlier_channels"] == [], d["outlier_channels"]
' "$TMP/a.json"
check "summary printed on stderr with --json" grep -q "whole-tensor kurtosis" "$TMP/err"
check "stats memory reported" $PY -c 'import json,sys; assert json.load(open(sys.argv[1]))["stats_memory_bytes"] > 0' "$TMP/a.json"

# --- HDF5 layout: every documented dataset and table, readable as structured arrays
check "hdf5 layout" $PY - "$TMP/a.h5" <<'PYEOF'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
r = f["runs/1"]
for a in ("model_path", "model_sha256", "text_path", "text_sha256", "command_line", "params",
          "qscope_version", "git_rev", "start_time", "end_time", "threads"):
    assert a in r["provenance"].attrs, a
assert r["model"].attrs["n_layers"] == 5 and r["model"].attrs["dim"] == 64
stats = ["mean", "var", "std", "skewness", "kurtosis", "min", "max", "absmax", "mean_abs",
         "mean_sq", "n_outlier_tokens", "n_int8_tokens", "token_fraction", "sequence_fraction"]
width = {"resid": 64, "attn_in": 64, "attn_o_in": 64, "ffn_in": 64, "ffn_down_in": 172}
for site, C in width.items():
    L = 6 if site == "resid" else 5
    for s in stats:
        assert r[f"stats/{site}/{s}"].shape == (L, C), (site, s)
    t = r[f"stats/{site}/tensor"][()]
    assert list(t["layer"]) == list(range(L))
    assert {"p50", "p99", "p9999", "kurtosis", "count"} <= set(t.dtype.names)
    assert r[f"stats/{site}/hist/counts"].shape == (L, 2000)
    assert r[f"stats/{site}/hist/edges"].shape == (2001,)
    # histogram counts: every element of the site, less the zeros
    cnt = r[f"stats/{site}/hist/counts"][()].sum(axis=1)
    assert (cnt == t["count"] - t["n_zero"]).all()
    assert (t["count"] == 16384 * C).all()
w = r["weights/summary"][()]
assert len(w) == 47 and w["name"][0] == b"token_embd" and r["weights/hist/counts"].shape == (47, 2000)
ch = r["outliers/channels"][()]
assert ch.dtype.names == ("layer", "site", "channel", "absmax", "ratio_to_median", "token_fraction",
                          "sequence_fraction", "n_shared_layers", "shared_layers"), ch.dtype.names
tk = r["outliers/tokens"][()]
assert tk.dtype.names == ("layer", "site", "window", "position", "token_id", "token_text", "channel",
                          "value", "ratio"), tk.dtype.names
PYEOF

# --- append-only: a second run lands in runs/2, runs/1 unchanged
sum1=$($PY -c 'import h5py,sys; print(h5py.File(sys.argv[1])["runs/1/stats/attn_in/kurtosis"][()].sum())' "$TMP/a.h5")
expect_ok profile-again -- "$QSCOPE" profile "$M" "$TXT" -o "$TMP/a.h5" --tokens 1024 --ctx 256 --sites attn_in --layers 0,2-3
check "second run appended" $PY -c '
import h5py, sys, numpy as np
f = h5py.File(sys.argv[1], "r")
assert sorted(f["runs"].keys()) == ["1", "2"]
k = f["runs/2/stats/attn_in/kurtosis"][()]
assert np.isnan(k[1]).all() and np.isnan(k[4]).all() and not np.isnan(k[0]).any()
assert list(f["runs/2/stats/attn_in/layers"][()]) == [0, 2, 3]
assert "ffn_in" not in f["runs/2/stats"]
MAX_PRINTED_REL_ERROR = 1e-9  # the sum printed by Python and read back
assert abs(f["runs/1/stats/attn_in/kurtosis"][()].sum() - float(sys.argv[2])) < MAX_PRINTED_REL_ERROR
' "$TMP/a.h5" "$sum1"

# --- planting: three points, found exactly
expect_ok plant -- "$QSCOPE" plant "$M" -o "$TMP/p.bin" --site attn_in --layer 1 --channel 7 --scale 100 \
    --site ffn_in --layer 3 --channel 20 --scale 100 --plant ffn_down_in:2:100:100 --json
check "plant json" $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["plants"]) == 3' "$TMP/out"
expect_ok profile-planted -- "$QSCOPE" profile "$TMP/p.bin" "$TXT" --tokenizer "$TOK" -o "$TMP/p.h5" --tokens 16384 --ctx 512 --json
check "exactly the three planted channels" $PY -c '
import json, sys, h5py
d = json.load(open(sys.argv[1]))
got = sorted((c["site"], c["layer"], c["channel"]) for c in d["outlier_channels"])
want = sorted([("attn_in", 1, 7), ("ffn_in", 3, 20), ("ffn_down_in", 2, 100)])
assert got == want, got
t = h5py.File(sys.argv[2], "r")["runs/1/outliers/channels"][()]
assert sorted((s.decode(), int(l), int(c)) for s, l, c in zip(t["site"], t["layer"], t["channel"])) == want
assert (t["token_fraction"] >= 0.5).all() and (t["sequence_fraction"] == 1).all()
' "$TMP/out" "$TMP/p.h5"
check "planted logits equal the original ppl" bash -c '
a=$("$1" ppl "$2" "$3" --ctx 128 --max-tokens 2048 --json | '$PY' -c "import json,sys; print(json.load(sys.stdin)[\"nll\"])")
b=$("$1" ppl "$4" "$3" --tokenizer "$5" --ctx 128 --max-tokens 2048 --json | '$PY' -c "import json,sys; print(json.load(sys.stdin)[\"nll\"])")
'$PY' -c "import sys; a,b,tol=map(float,sys.argv[1:]); sys.exit(0 if abs(a-b) < tol else 1)" "$a" "$b" "$6"' _ "$QSCOPE" "$M" "$TXT" "$TMP/p.bin" "$TOK" "$MAX_PLANTED_NLL_ERROR"

# --- bad input: a clear error, nothing written
expect_fail "plant resid" "RMSNorm" -- "$QSCOPE" plant "$M" -o "$TMP/x.bin" --plant resid:0:1:10
expect_fail "plant unknown site" "unknown site 'attn_out'" -- "$QSCOPE" plant "$M" -o "$TMP/x.bin" --site attn_out --layer 0 --channel 1 --scale 10
expect_fail "plant layer out of range" "layer 5 out of range" -- "$QSCOPE" plant "$M" -o "$TMP/x.bin" --plant attn_in:5:1:10
expect_fail "plant channel out of range" "channel 64 out of range for attn_in" -- "$QSCOPE" plant "$M" -o "$TMP/x.bin" --plant attn_in:0:64:10
expect_fail "plant channel out of range (hidden)" "channel 172 out of range for ffn_down_in" -- "$QSCOPE" plant "$M" -o "$TMP/x.bin" --plant ffn_down_in:0:172:10
expect_fail "plant scale 0" "scale '0' must be a finite number > 0" -- "$QSCOPE" plant "$M" -o "$TMP/x.bin" --plant attn_in:0:1:0
expect_fail "plant scale negative" "must be a finite number > 0" -- "$QSCOPE" plant "$M" -o "$TMP/x.bin" --site attn_in --layer 0 --channel 1 --scale -3
expect_fail "plant scale nan" "must be a finite number > 0" -- "$QSCOPE" plant "$M" -o "$TMP/x.bin" --plant attn_in:0:1:nan
expect_fail "plant scale inf" "must be a finite number > 0" -- "$QSCOPE" plant "$M" -o "$TMP/x.bin" --plant attn_in:0:1:inf
expect_fail "plant mismatched lists" "same number of times" -- "$QSCOPE" plant "$M" -o "$TMP/x.bin" --site attn_in --layer 0 --channel 1
expect_fail "plant nothing" "nothing to plant" -- "$QSCOPE" plant "$M" -o "$TMP/x.bin"
check "no output after refused plants" test ! -e "$TMP/x.bin"
expect_fail "plant missing directory" "no/such/dir/x.bin: cannot create" -- "$QSCOPE" plant "$M" -o "$TMP/no/such/dir/x.bin" --plant attn_in:0:1:10
check "missing directory not created" test ! -e "$TMP/no"
check "no temporary files left" bash -c '! ls "$1" | grep -q tmp' _ "$TMP"

expect_fail "profile unknown site" "unknown site 'ffn_out'" -- "$QSCOPE" profile "$M" "$TXT" -o "$TMP/y.h5" --sites attn_in,ffn_out
expect_fail "profile layer out of range" "layer out of range" -- "$QSCOPE" profile "$M" "$TXT" -o "$TMP/y.h5" --layers 0,7
expect_fail "profile bad tau" "--tau" -- "$QSCOPE" profile "$M" "$TXT" -o "$TMP/y.h5" --tau -1
expect_fail "profile bad phi" "--phi" -- "$QSCOPE" profile "$M" "$TXT" -o "$TMP/y.h5" --phi 1.5
expect_fail "profile bad dump" "not profiled" -- "$QSCOPE" profile "$M" "$TXT" -o "$TMP/y.h5" --sites attn_in --dump ffn_in,0,10
expect_fail "profile dump layer" "layer 9 out of range" -- "$QSCOPE" profile "$M" "$TXT" -o "$TMP/y.h5" --dump ffn_in,9,10
check "no results file after refused profiles" test ! -e "$TMP/y.h5"
expect_fail "profile missing directory" "no/such/dir" -- "$QSCOPE" profile "$M" "$TXT" -o "$TMP/no/such/dir/y.h5" --tokens 512
check "missing directory not created" test ! -e "$TMP/no"
printf 'not an HDF5 file\n' > "$TMP/notes.txt"
before=$(sha256sum < "$TMP/notes.txt")
expect_fail "profile into a non-HDF5 file" "notes.txt" -- "$QSCOPE" profile "$M" "$TXT" -o "$TMP/notes.txt" --tokens 512
check "non-HDF5 file untouched" test "$(sha256sum < "$TMP/notes.txt")" = "$before"
expect_ok profile-help -- "$QSCOPE" profile --help
check "help lists --dump" grep -q -- "--dump" "$TMP/out"
expect_ok plant-help -- "$QSCOPE" plant --help
check "help lists --scale" grep -q -- "--scale" "$TMP/out"
summary
