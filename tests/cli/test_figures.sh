# scripts/figures end to end: the quickstart (small) and a sweep-style table written from Lua
# are drawn; every expected figure exists as PNG and PDF, is not trivially small and is not
# blank; the printed list is exactly the files written; partial files and bad input are
# handled (nothing to draw: exit 0 with a message; not HDF5, missing file, unknown run: a
# clear error).
. "$QS_ROOT/tests/lib/common.sh"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1   # a 260K model: threads only add overhead
PY=/usr/bin/python3
FIG=$QS_ROOT/scripts/figures

expect_ok quickstart -- "$QSCOPE" run "$QS_ROOT/experiments/quickstart.lua" tokens=1024 eval_tokens=256 ctx=128 \
    out="$TMP/q.h5"

# a sweep table (qscope's m:sweep: weights and captured activations, percentile clipping and
# granularity) and a ppl table with KLD percentiles (llama_paper_tables.lua)
cat >"$TMP/s.lua" <<'LUA'
local p = declare_params{ root = ".", out = "" }
local m = qs.model(p.root .. "/data/models/stories260K.bin")
local txt = qs.text(p.root .. "/data/text/tinystories_v2_valid_head100.txt")
local out <close> = qs.results(p.out, { label = "figtest" })
m:sweep{ bits = "4,8", gran = "tensor,channel,group:32", clip = "absmax,mse,percentile:99,percentile:99.9",
         text = txt, tokens = 128, ctx = 128, results = out, name = "all" }
LUA
expect_ok "sweep table from Lua" -- "$QSCOPE" run "$TMP/s.lua" root="$QS_ROOT" out="$TMP/s.h5"
expect_ok "paper table" -- "$QSCOPE" run "$QS_ROOT/experiments/llama_paper_tables.lua" tokens=256 ctx=128 \
    text="$QS_ROOT/data/text/tinystories_v2_valid_head100.txt" out="$TMP/s.h5"

expect_ok "figures of the quickstart" -- "$FIG" "$TMP/q.h5" -o "$TMP/f1"
cp "$TMP/out" "$TMP/list1"
expect_ok "figures of the sweep file" -- "$FIG" "$TMP/s.h5" -o "$TMP/f2"
cp "$TMP/out" "$TMP/list2"

check "expected figures, PNG and PDF, non-trivial and not blank" $PY - "$TMP" <<'PYEOF'
import os, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.image as mpimg
import numpy as np
tmp = sys.argv[1]
sites = ["resid", "attn_in", "attn_o_in", "ffn_in", "ffn_down_in"]
want1 = [f"run{r}_{k}_{s}" for r in (1, 2) for k in ("heatmap", "channels") for s in sites]
want1 += [f"run{r}_{k}" for r in (1, 2) for k in ("hist", "kurtosis")]
want1 += ["run1_ppl_weights", "run1_ppl_activations", "run1_kld_weights", "run1_kld_activations"]
want2 = ["run1_clipping_all", "run1_pareto_all", "run2_ppl_w8a8", "run2_kld_w8a8"]
bad = []
for d, want, listing in (("f1", want1, "list1"), ("f2", want2, "list2")):
    printed = set(open(os.path.join(tmp, listing)).read().split())
    on_disk = {os.path.join(tmp, d, f) for f in os.listdir(os.path.join(tmp, d))}
    if printed != on_disk:
        bad.append(f"{d}: printed list differs from the files: {sorted(printed ^ on_disk)[:5]}")
    for name in want:
        for ext, min_size in (("png", 8000), ("pdf", 4000)):
            f = os.path.join(tmp, d, f"{name}.{ext}")
            if not os.path.exists(f):
                bad.append(f"missing {d}/{name}.{ext}")
            elif os.path.getsize(f) < min_size:
                bad.append(f"{d}/{name}.{ext}: only {os.path.getsize(f)} bytes")
        f = os.path.join(tmp, d, f"{name}.png")
        if os.path.exists(f):
            img = mpimg.imread(f)[..., :3]
            ink = (img < 0.9).any(axis=2).mean()          # fraction of non-white pixels
            colors = len(np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0))
            if ink < 0.02 or colors < 20:
                bad.append(f"{d}/{name}.png looks blank (ink {ink:.3f}, {colors} colours)")
# no sweep figures from the quickstart, which has no sweep table
if any("clipping" in f or "pareto" in f for f in os.listdir(os.path.join(tmp, "f1"))):
    bad.append("f1: sweep figures drawn without a sweep table")
print("\n".join(bad), file=sys.stderr)
sys.exit(1 if bad else 0)
PYEOF

# the planted run's channel bars mark the planted channels: their absmax stands out in the file
check "planted channels present in run 2 statistics" $PY -c '
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
t = f["runs/2/outliers/channels"][()]
assert len(t) == 10, len(t)
am = f["runs/2/stats/attn_in/absmax"][()]
for r in t[t["site"] == b"attn_in"]:
    assert am[r["layer"], r["channel"]] > 20 * np.median(am[r["layer"]])
' "$TMP/q.h5"

# --format and --runs
expect_ok "one run, PNG only" -- "$FIG" "$TMP/q.h5" -o "$TMP/f3" --runs 2 --format png
check "only run 2, only PNG" bash -c '! ls "$1" | grep -qv "^run2_.*\.png$" && ls "$1" | grep -q run2_heatmap_attn_in.png' _ "$TMP/f3"

# a file with nothing drawable: exit 0, a message, no files
cat >"$TMP/claims.lua" <<'LUA'
local p = declare_params{ out = "" }
local out <close> = qs.results(p.out)
out:append("claims", { claim = "x", model = "m", measurement = "v", value = 1, threshold = "> 0", holds = true })
LUA
expect_ok "claims-only file" -- "$QSCOPE" run "$TMP/claims.lua" out="$TMP/c.h5"
expect_ok "nothing to draw" -- "$FIG" "$TMP/c.h5" -o "$TMP/f4"
check "nothing to draw: message, no files" bash -c 'grep -q "nothing to draw" "$1" && [ -z "$(ls "$2")" ]' _ "$TMP/err" "$TMP/f4"

# bad input
echo "not hdf5" >"$TMP/bad.h5"
expect_fail "not HDF5" "not a readable HDF5 file" -- "$FIG" "$TMP/bad.h5" -o "$TMP/f5"
expect_fail "missing file" "no such file" -- "$FIG" "$TMP/none.h5" -o "$TMP/f5"
expect_fail "unknown run" "no run 9" -- "$FIG" "$TMP/q.h5" -o "$TMP/f5" --runs 9
summary
