# Raw activations from Lua: m:profile{dump = {...}, results = out} stores the first N tokens
# of each named site × layer as dump/<site>/<layer> in the script's run, and lists them in
# prof.dumps. The rows must be bit for bit what `qscope profile --dump` stores for the same
# model, text and windows (the CLI path is checked against numpy in ref/test_profile_numpy).
# Bad dump requests fail before anything is written.
. "$QS_ROOT/tests/lib/common.sh"
M=$QS_ROOT/data/models/stories260K.bin
TXT=$QS_ROOT/data/text/tinystories_v2_valid_head100.txt
cat > "$TMP/dump.lua" <<LUA
local p = declare_params{ out = "" }
local m = qs.model("$M")
local out <close> = qs.results(p.out, { label = "lua dump" })
local prof = m:profile{ text = qs.text("$TXT"), tokens = 512, ctx = 128, results = out,
                        dump = { { site = "ffn_down_in", layer = 2, tokens = 200 },
                                 { site = "resid", layer = 5, tokens = 100000 },
                                 { site = "attn_in", layer = 0 } } }
for _, d in ipairs(prof.dumps) do print("dump", d.site, d.layer, d.rows, d.cols, d.path) end
LUA
expect_ok "profile with dumps" -- "$QSCOPE" run "$TMP/dump.lua" out="$TMP/lua.h5" --threads 1
check "dump rows listed" grep -qx $'dump\tffn_down_in\t2\t200\t172\tdump/ffn_down_in/2' "$TMP/out"
check "dump bound above the tokens seen" grep -qx $'dump\tresid\t5\t512\t64\tdump/resid/5' "$TMP/out"
check "dump default 256 tokens" grep -qx $'dump\tattn_in\t0\t256\t64\tdump/attn_in/0' "$TMP/out"
expect_ok "cli profile with the same dumps" -- "$QSCOPE" profile "$M" "$TXT" -o "$TMP/cli.h5" --tokens 512 \
    --ctx 128 --threads 1 --dump ffn_down_in,2,200 --dump resid,5,100000 --dump attn_in,0,256
check "lua dumps equal cli dumps" /usr/bin/python3 - "$TMP/lua.h5" "$TMP/cli.h5" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
for path, shape in (("dump/ffn_down_in/2", (200, 172)), ("dump/resid/5", (512, 64)), ("dump/attn_in/0", (256, 64))):
    x, y = a["runs/1/" + path][()], b["runs/1/" + path][()]
    assert x.shape == shape and x.dtype == np.float32, (path, x.shape, x.dtype)
    assert np.array_equal(x, y), path
    assert np.abs(x).max() > 0, path
assert "stats" in a["runs/1"] and "outliers" in a["runs/1"]
PY

bad() { # NAME DUMP-TABLE PATTERN [RESULTS]
    printf 'local m = qs.model("%s")\nlocal out = qs.results("%s")\nm:profile{ text = qs.text("%s"), tokens = 64, ctx = 64, %s dump = %s }\n' \
        "$M" "$TMP/bad.h5" "$TXT" "${4-results = out,}" "$2" > "$TMP/bad.lua"
    expect_fail "$1" "$3" -- "$QSCOPE" run "$TMP/bad.lua" --threads 1
}
bad "unknown site" '{ { site = "ffn_out", layer = 0 } }' "dump\[1\]: site 'ffn_out' is not one of"
bad "layer out of range" '{ { site = "attn_in", layer = 5 } }' "dump\[1\]: layer must be 0..4 for attn_in"
bad "resid has one layer more" '{ { site = "resid", layer = 6 } }' "dump\[1\]: layer must be 0..5 for resid"
bad "tokens below 1" '{ { site = "attn_in", layer = 0, tokens = 0 } }' "tokens must be >= 1"
bad "typo in a dump key" '{ { site = "attn_in", layr = 0 } }' "unknown option 'layr'"
bad "not a list of tables" '{ "attn_in" }' "dump\[1\] must be a table"
bad "dump without results" '{ { site = "attn_in", layer = 0 } }' "dump needs results" ""
check "nothing was written for the bad requests" /usr/bin/python3 -c \
    "import h5py,sys; f=h5py.File(sys.argv[1],'r'); assert all('dump' not in f['runs'][r] for r in f['runs'])" "$TMP/bad.h5"
summary
