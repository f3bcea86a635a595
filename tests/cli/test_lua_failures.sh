# Lua failures follow Lua's io library: an expected failure where a script would reasonably
# go on (a config that cannot run on this model, a quantizer that cannot run on these
# values) returns nil and a message; misuse (a malformed config name, an unknown option, a
# missing tensor) raises. One script checks the first kind and goes on; the second kind
# stops a script with its message.
. "$QS_ROOT/tests/lib/common.sh"
M=$QS_ROOT/data/models/stories260K.bin
TXT=$QS_ROOT/data/text/tinystories_v2_valid_head100.txt
cat > "$TMP/goes_on.lua" <<LUA
local m = qs.model("$M")
local txt = qs.text("$TXT")
local r, err = m:eval{ config = "W16A8 layers:9", text = txt, ctx = 64, max_tokens = 64 }
assert(r == nil and err:find("^m:eval: config layers: layer 9 does not exist"), err)
local q, qerr = qs.quantize({ 1, 2, 0 / 0, 4 }, "A8 per-tensor")
assert(q == nil and qerr:find("^qs.quantize: .*NaN at row 0, col 2"), qerr)
-- the same calls that can run still do, in the same script
local ok = m:eval{ config = "W16A8 layers:0,2-4", text = txt, ctx = 64, max_tokens = 64 }
assert(ok.config == "W16A8 per-token layers:0,2-4" and ok.tokens == 64, ok.config)
assert(#qs.quantize({ 1, 2, 3, 4 }, "A8 per-tensor").values == 4)
print("went on")
LUA
expect_ok "expected failures return nil, message" -- "$QSCOPE" run "$TMP/goes_on.lua" --threads 1
check "the script went on" grep -qx "went on" "$TMP/out"

misuse() { # NAME PATTERN LUA
    printf 'local m = qs.model("%s")\nlocal txt = qs.text("%s")\n%s\n' "$M" "$TXT" "$3" > "$TMP/misuse.lua"
    expect_fail "$1" "$2" -- "$QSCOPE" run "$TMP/misuse.lua" --threads 1
}
misuse "malformed config raises" "misuse.lua:3: .*unknown word 'bogus'" \
    'm:eval{ config = "W16A8 bogus", text = txt }'
misuse "unknown option raises" "misuse.lua:3: m:eval: unknown option 'txt'" \
    'm:eval{ config = "W16A8", txt = txt }'
misuse "missing tensor raises" "misuse.lua:3: m:quantize_tensor: no tensor 'nope'" \
    'm:quantize_tensor("nope", "W4 g32")'
misuse "bad layer list raises" "misuse.lua:3: m:profile: layers '0-9'.*layer out of range: 9 > 5" \
    'm:profile{ text = txt, tokens = 64, layers = "0-9" }'
summary
