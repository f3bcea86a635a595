# Inputs that used to hang or pass as wrong (issue 12, items 8 and 9):
#  - a named pipe (FIFO) given as model, tokenizer, text, config.json, tokenizer.json, Lua
#    script or results file is refused at once as "not a regular file (a named pipe)"; it
#    used to hang forever, opened before the regular-file check (each case runs under
#    `timeout`, so a hang fails instead of stalling the suite);
#  - --docs splits a text holding NUL bytes into all of its documents (a NUL ended the
#    search for the separator: 40 documents were scored as 4 windows, exit 0), and an empty
#    separator is refused, on the command line and in Lua.
. "$QS_ROOT/tests/lib/common.sh"
PY=/usr/bin/python3
M=$QS_ROOT/data/models/stories260K.bin
TXT=$QS_ROOT/data/text/tinystories_v2_valid_head100.txt
HF=$QS_ROOT/tests/fixtures/hf-stories260K
T="timeout 30"

# ---- item 9: named pipes ---------------------------------------------------------------------
mkfifo "$TMP/pipe"
P='not a regular file \(a named pipe\)'
expect_fail "FIFO as model" "pipe: $P" -- $T "$QSCOPE" info "$TMP/pipe"
expect_fail "FIFO as tokenizer" "pipe: $P" -- $T "$QSCOPE" info "$M" --tokenizer "$TMP/pipe"
expect_fail "FIFO as text" "pipe: $P" -- $T "$QSCOPE" ppl "$M" "$TMP/pipe" --ctx 64
expect_fail "FIFO as Lua script" "pipe: $P" -- $T "$QSCOPE" run "$TMP/pipe"
expect_fail "FIFO as results file" "pipe: is not a regular file" -- \
    $T "$QSCOPE" profile "$M" "$TXT" --tokens 64 --ctx 64 -o "$TMP/pipe"
for f in config.json tokenizer.json model.safetensors; do
    rm -rf "$TMP/hf"; cp -r "$HF" "$TMP/hf"; rm -f "$TMP/hf/$f"; mkfifo "$TMP/hf/$f"
    expect_fail "FIFO as $f of a Hugging Face model" "$f: $P" -- $T "$QSCOPE" info "$TMP/hf"
done
printf 'local t = qs.text("%s")\n' "$TMP/pipe" > "$TMP/text.lua"
expect_fail "FIFO as qs.text" "qs.text: .*pipe: $P" -- $T "$QSCOPE" run "$TMP/text.lua"

# ---- item 8: --docs ----------------------------------------------------------------------------
# 40 documents separated by "<|sep|>"; document 3 holds a NUL byte
$PY - "$TMP/docs.txt" <<'PY'
import sys
docs = ["Once upon a time there was a cat number %d. It liked to play in the sun all day." % i
        for i in range(40)]
docs[3] = docs[3].replace("cat", "c\x00at")
open(sys.argv[1], "w").write("\n<|sep|>\n".join(docs))
PY
expect_ok "docs with a NUL byte" -- "$QSCOPE" ppl "$M" "$TMP/docs.txt" --docs '<|sep|>' --ctx 64 --json
check "40 documents, 40 windows ($(json_get "$TMP/out" windows))" [ "$(json_get "$TMP/out" windows)" = 40 ]
expect_fail "--docs ''" "--docs: the document separator is empty" -- \
    "$QSCOPE" ppl "$M" "$TMP/docs.txt" --docs '' --ctx 64
cat > "$TMP/docs.lua" <<LUA
local m = qs.model("$M")
local t = qs.text("$TMP/docs.txt")
local r = m:perplexity{ text = t, docs = "<|sep|>", ctx = 64 }
assert(r.windows == 40, "windows: " .. r.windows)
local ok, err = pcall(m.perplexity, m, { text = t, docs = "", ctx = 64 })
assert(not ok and err:find("document separator is empty"), err)
ok, err = pcall(m.perplexity, m, { text = t, docs = "<|\0sep|>", ctx = 64 })
assert(not ok and err:find("option 'docs' holds a NUL byte"), err)
LUA
expect_ok "docs from Lua" -- "$QSCOPE" run "$TMP/docs.lua" --threads 1
summary
