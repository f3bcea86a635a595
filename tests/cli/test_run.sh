# qscope run: the qs module end to end from Lua, and scripts that go wrong — each a clear
# error with a non-zero exit, and rows appended before the error stay readable.
. "$QS_ROOT/tests/lib/common.sh"
M=$QS_ROOT/data/models/stories260K.bin
TXT=$QS_ROOT/data/text/tinystories_v2_valid_head100.txt
cat > "$TMP/ok.lua" <<LUA
local p = declare_params{ out = "x.h5", n = 3 }
local MAX_SAME_PPL_ERROR = 1e-9 -- the same full-precision forward in m:perplexity and m:eval
local m = qs.model("$M")
local txt = qs.text("$TXT")
local out <close> = qs.results(p.out, { label = "test" })
assert(m:info().params == 260032)
local r = m:perplexity{ text = txt, ctx = 128, max_tokens = 1000 }
assert(r.tokens == 1000 and r.ppl > 1 and r.ppl < 20, r.ppl)
for i = 1, p.n do out:append("ppl/rows", { i = i, ppl = r.ppl, name = "row" .. i }) end
local e = m:eval{ config = "W8A8 per-token", text = txt, ctx = 128, max_tokens = 1000 }
assert(e.config == "W8A8 per-token" and math.abs(e.ppl_base - r.ppl) < MAX_SAME_PPL_ERROR, e.ppl_base)
assert(qs.config("W4A16 g128").w.group == 128)
assert(qs.memory{ params = 8e9, bits = 4, group = 128 }.scale_bytes == 1.25e8)
print("ok", out:run())
LUA
expect_ok "script runs" -- "$QSCOPE" run "$TMP/ok.lua" out="$TMP/ok.h5" n=4
check "prints ok" grep -q "^ok" "$TMP/out"
check "4 rows readable" /usr/bin/python3 -c "import h5py,sys; f=h5py.File(sys.argv[1]); t=f['runs/1/ppl/rows']; assert len(t)==4 and t['name'][3]==b'row4', t[:]" "$TMP/ok.h5"
provenance_ok() { /usr/bin/python3 -c "import h5py,sys; a=h5py.File(sys.argv[1])['runs/1/provenance'].attrs; assert a['script_path'].endswith('ok.lua') and len(a['script_sha256'])==64" "$1"; }
check "provenance names the script" provenance_ok "$TMP/ok.h5"

printf 'local x = \n  = 3\n' > "$TMP/syntax.lua"
expect_fail "syntax error names file:line" "syntax.lua:2:" -- "$QSCOPE" run "$TMP/syntax.lua"
printf 'local function f() error("boom") end\nf()\n' > "$TMP/runtime.lua"
expect_fail "runtime error has a traceback" "runtime.lua:1: boom.*" -- "$QSCOPE" run "$TMP/runtime.lua"
check "traceback printed" grep -q "stack traceback" "$TMP/err"
expect_fail "unknown parameter" "unknown parameter 'nn'" -- "$QSCOPE" run "$TMP/ok.lua" out="$TMP/x.h5" nn=3
expect_fail "script missing" "nope.lua" -- "$QSCOPE" run "$TMP/nope.lua"
printf 'print(undefined_thing)\n' > "$TMP/global.lua"
expect_fail "undefined global" "undefined global 'undefined_thing'" -- "$QSCOPE" run "$TMP/global.lua"
printf 'local m = qs.model("%s")\nm:perplexity{ txt = 1 }\n' "$M" > "$TMP/typo.lua"
expect_fail "unknown option key" "unknown option 'txt'" -- "$QSCOPE" run "$TMP/typo.lua"
printf 'os.execute("true")\n' > "$TMP/escape.lua"
expect_fail "no os.execute" "escape.lua:1:" -- "$QSCOPE" run "$TMP/escape.lua"

# an error after some rows: the rows written before it are intact
cat > "$TMP/partial.lua" <<LUA
local out = qs.results("$TMP/partial.h5")
for i = 1, 5 do out:append("t", { i = i }) end
error("stopped after 5 rows")
LUA
expect_fail "error mid-script" "stopped after 5 rows" -- "$QSCOPE" run "$TMP/partial.lua"
check "5 rows survive" /usr/bin/python3 -c "import h5py,sys; assert len(h5py.File(sys.argv[1])['runs/1/t'])==5" "$TMP/partial.h5"

# a read-only results file is refused and left as it was
cp "$TMP/partial.h5" "$TMP/ro.h5"; chmod a-w "$TMP/ro.h5"; before=$(sha256sum < "$TMP/ro.h5")
printf 'local out = qs.results("%s")\n' "$TMP/ro.h5" > "$TMP/ro.lua"
expect_fail "read-only results" "ro.h5" -- "$QSCOPE" run "$TMP/ro.lua"
check "read-only file untouched" [ "$before" = "$(sha256sum < "$TMP/ro.h5")" ]
# a script stuck inside one C call (a pathological pattern) is stopped by the watchdog
printf 'local s = string.rep("a", 40)\nprint(s:find(string.rep("a?", 40) .. string.rep("a", 40) .. "b"))\n' > "$TMP/bomb.lua"
expect_fail "pattern bomb stopped" "bomb.lua exceeded its time limit of 1 s" -- "$QSCOPE" run "$TMP/bomb.lua" --max-seconds 1
summary
