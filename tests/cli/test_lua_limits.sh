# Lua limits that C code used to get around (issue 12, items 11 and 14):
#  - item 11: with --max-memory 64, C memory that qs.* functions allocate for the script
#    counts against the limit: qs.text of a 100 MB file and m:tokenize of a 5 MB string
#    stop with "not enough memory" (they reached 955 MB and 901 MB), texts that are
#    collected give their share back, and 300 failing qs.quantize calls on 4 MB arrays keep
#    the process small (each leaked its buffer: 1.98 GB). Peak memory is the child's
#    ru_maxrss, read by python.
#  - item 14: integer options beyond int are refused instead of cut (ctx = 2^32 + 64 ran as
#    64, steps = 2^40 as 0); 64-bit ones (max_tokens, seed) still take large values.
. "$QS_ROOT/tests/lib/common.sh"
PY=/usr/bin/python3
M=$QS_ROOT/data/models/stories260K.bin
TXT=$QS_ROOT/data/text/tinystories_v2_valid_head100.txt
# maxrss_mb CMD...: runs CMD (output to $TMP/out, $TMP/err), prints its exit status and
# peak resident memory in MB
maxrss_mb() {
    $PY - "$TMP/out" "$TMP/err" "$@" <<'PY'
import resource, subprocess, sys
out, err, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
rc = subprocess.call(cmd, stdout=open(out, "w"), stderr=open(err, "w"))
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
PY
}
lua() { printf '%s\n' "$1" > "$TMP/s.lua"; }

# ---- item 11 ------------------------------------------------------------------------------------
yes "Once upon a time there was a cat who liked to sleep in the sun." | head -c 100000000 > "$TMP/big.txt"
lua "local t = qs.text('$TMP/big.txt')"
expect_fail "qs.text of 100 MB under --max-memory 64" \
    "qs.text: not enough memory: it needs 100000000 bytes, and the script already uses .* of its limit of 64 MiB" \
    -- "$QSCOPE" run "$TMP/s.lua" --max-memory 64 --threads 1
lua "for i = 1, 40 do local t = qs.text('$TXT') end  -- each one dies before the next
local keep = {}
for i = 1, 3 do keep[i] = qs.text('$TXT') end
print('ok')"
expect_ok "collected texts give their memory back" -- "$QSCOPE" run "$TMP/s.lua" --max-memory 1 --threads 1
lua "local m = qs.model('$M')
local s = string.rep('Once upon a time there was a cat. ', 150000)  -- 5 MB
local ids = m:tokenize(s)"
read rc mb < <(maxrss_mb "$QSCOPE" run "$TMP/s.lua" --max-memory 64 --threads 1)
check "m:tokenize of 5 MB under --max-memory 64 fails ($rc)" [ "$rc" = 1 ]
if grep -qE "m:tokenize: not enough memory: it needs [0-9]+ bytes" "$TMP/err"; then ok
else bad "m:tokenize: message"; cat "$TMP/err" >&2; fi
check "m:tokenize stopped before allocating ($mb MB peak)" [ "$mb" -lt 300 ]
lua "local m = qs.model('$M')
local ids = m:tokenize(string.rep('Once upon a time there was a cat. ', 1000))
assert(#ids > 1000)"
expect_ok "m:tokenize of 34 kB under --max-memory 64" -- "$QSCOPE" run "$TMP/s.lua" --max-memory 64 --threads 1
lua "local v = {}
for i = 1, 1000000 do v[i] = i * 1e-6 end
v[500000] = 0 / 0
local failed = 0
for i = 1, 300 do
  local ok, r = pcall(qs.quantize, v, 'W8 per-channel', { rows = 1000, cols = 1000 })
  if not ok or r == nil then failed = failed + 1 end -- a NaN input: nil, message
end
assert(failed == 300, failed)"
read rc mb < <(maxrss_mb "$QSCOPE" run "$TMP/s.lua" --threads 1)
check "300 failing qs.quantize calls run ($rc)" [ "$rc" = 0 ]
check "and do not leak ($mb MB peak; 4 MB each leaked 1.2 GB)" [ "$mb" -lt 600 ]

# ---- item 14 ------------------------------------------------------------------------------------
lua "local m = qs.model('$M')
local t = qs.text('$TXT')
m:perplexity{ text = t, ctx = 2^32 + 64 }"
expect_fail "ctx = 2^32 + 64" "option 'ctx' = 4294967360 is out of range \(at most 2147483647\)" \
    -- "$QSCOPE" run "$TMP/s.lua" --threads 1
lua "qs.model('$M'):generate{ prompt = 'Once', steps = 2^40 }"
expect_fail "steps = 2^40" "option 'steps' = 1099511627776 is out of range" -- "$QSCOPE" run "$TMP/s.lua" --threads 1
lua "qs.quantize({ 1, 2, 3, 4 }, 'W8', { rows = 2^32 + 1, cols = 4 })"
expect_fail "rows = 2^32 + 1" "option 'rows' = 4294967297 is out of range" -- "$QSCOPE" run "$TMP/s.lua" --threads 1
lua "local m = qs.model('$M')
local r = m:perplexity{ text = qs.text('$TXT'), ctx = 64, max_tokens = 2^40 }
assert(r.tokens > 0)
print(m:generate{ prompt = 'Once', steps = 4, seed = 2^40 + 7 })"
expect_ok "64-bit options keep large values" -- "$QSCOPE" run "$TMP/s.lua" --threads 1
summary
