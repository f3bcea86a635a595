# Raw activations from Lua: m:profile{dump = {...}, results = out} stores the first N tokens
# of each named site × layer as dump/<site>/<layer> in the script's run, and lists them in
# prof.dumps; m:activations{...} hands one site × layer to the script as an array. Both must
# be bit for bit what `qscope profile --dump` stores for the same model, text and windows
# (the CLI path is checked against numpy in ref/test_profile_numpy). Bad requests fail
# before anything is written.
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

# m:activations: the same rows as an array (printed with 9 significant digits, which give
# a float32 back exactly), with the token of each row
cat > "$TMP/act.lua" <<LUA
local m = qs.model("$M")
local a = m:activations{ text = qs.text("$TXT"), site = "ffn_down_in", layer = 2, tokens = 200, ctx = 128 }
print(a.site, a.layer, a.rows, a.cols, #a.values, #a.token_ids)
print(table.concat(a.token_ids, " "))
for t = 0, a.rows - 1 do
  local row = {}
  for c = 1, a.cols do row[c] = string.format("%.9g", a.values[t * a.cols + c]) end
  print(table.concat(row, " "))
end
LUA
expect_ok "m:activations" -- "$QSCOPE" run "$TMP/act.lua" --threads 1
check "m:activations equals the cli dump" /usr/bin/python3 - "$TMP/out" "$TMP/cli.h5" "$M" "$TXT" <<'PY'
import sys, h5py, numpy as np
lines = open(sys.argv[1]).read().split("\n")
head = lines[0].split("\t")
assert head == ["ffn_down_in", "2", "200", "172", "34400", "200"], head
ids = [int(x) for x in lines[1].split()]
x = np.array([[float(v) for v in l.split()] for l in lines[2:202]], dtype=np.float32)
y = h5py.File(sys.argv[2], "r")["runs/1/dump/ffn_down_in/2"][()]
assert x.shape == y.shape == (200, 172), (x.shape, y.shape)
assert np.array_equal(x, y), np.abs(x - y).max()
assert len(ids) == 200 and ids[0] == 1 and ids[128] == 1, ids[:3]   # BOS opens each window of 128
PY
# lua_fails NAME PATTERN LUA [RUN-OPTIONS...]: LUA, run with m (the model) and txt (the
# text) defined, fails with a message matching PATTERN
lua_fails() {
    local name=$1 pattern=$2 body=$3; shift 3
    printf 'local m = qs.model("%s")\nlocal txt = qs.text("%s")\n%s\n' "$M" "$TXT" "$body" > "$TMP/fail.lua"
    expect_fail "$name" "$pattern" -- "$QSCOPE" run "$TMP/fail.lua" --threads 1 "$@"
}
act_fails() { lua_fails "activations: $1" "$3" "m:activations{ text = txt, $2 }"; }  # NAME OPTIONS PATTERN
act_fails "unknown site" 'site = "x", layer = 0' "m:activations: site 'x' is not one of"
act_fails "no site" 'layer = 0' "site '\(missing\)'"
act_fails "layer out of range" 'site = "ffn_in", layer = 5' "layer must be 0..4 for ffn_in"
act_fails "too many values" 'site = "ffn_down_in", layer = 0, tokens = 1000000' \
    "tokens must be 1..24385 for ffn_down_in \(172 channels\); store larger slices with m:profile"
act_fails "typo" 'site = "ffn_in", layer = 0, token = 5' "unknown option 'token'"
# the values count against the script's memory limit: a clear error, no crash, no leak
lua_fails "activations: memory limit" "memory" \
    'm:activations{ text = txt, site = "ffn_down_in", layer = 0, tokens = 20000 }' --max-memory 40

dump_fails() { # NAME DUMP-TABLE PATTERN [RESULTS]
    lua_fails "$1" "$3" "local out = qs.results(\"$TMP/bad.h5\")
m:profile{ text = txt, tokens = 64, ctx = 64, ${4-results = out,} dump = $2 }"
}
dump_fails "unknown site" '{ { site = "ffn_out", layer = 0 } }' "dump\[1\]: site 'ffn_out' is not one of"
dump_fails "layer out of range" '{ { site = "attn_in", layer = 5 } }' "dump\[1\]: layer must be 0..4 for attn_in"
dump_fails "resid has one layer more" '{ { site = "resid", layer = 6 } }' "dump\[1\]: layer must be 0..5 for resid"
dump_fails "tokens below 1" '{ { site = "attn_in", layer = 0, tokens = 0 } }' "tokens must be >= 1"
dump_fails "typo in a dump key" '{ { site = "attn_in", layr = 0 } }' "unknown option 'layr'"
dump_fails "not a list of tables" '{ "attn_in" }' "dump\[1\] must be a table"
dump_fails "dump without results" '{ { site = "attn_in", layer = 0 } }' "dump needs results" ""
check "nothing was written for the bad requests" /usr/bin/python3 -c \
    "import h5py,sys; f=h5py.File(sys.argv[1],'r'); assert all('dump' not in f['runs'][r] for r in f['runs'])" "$TMP/bad.h5"
summary
