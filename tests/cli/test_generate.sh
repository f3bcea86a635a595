# Greedy decoding of stories260K from "Once upon a time" reproduces the sample published with
# llama2.c (doc/stories260K.md) — an outside witness for the whole forward pass and tokenizer.
. "$QS_ROOT/tests/lib/common.sh"
M=$QS_ROOT/data/models/stories260K.bin
SAMPLE="Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball."
expect_ok generate -- "$QSCOPE" generate "$M" --prompt "Once upon a time" --steps 60
check "sample text" grep -qF "$SAMPLE" "$TMP/out"
expect_ok generate-json -- "$QSCOPE" generate "$M" --steps 40 --json
check "json text" /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["text"].startswith("Once upon a time, there was a little girl named Lily."), d["text"]; assert d["tokens"][0]==1' "$TMP/out"
# sampling is reproducible for a seed
"$QSCOPE" generate "$M" --temperature 1 --seed 7 --steps 30 >"$TMP/a" 2>/dev/null
"$QSCOPE" generate "$M" --temperature 1 --seed 7 --steps 30 >"$TMP/b" 2>/dev/null
check "seeded sampling reproducible" cmp -s "$TMP/a" "$TMP/b"
expect_fail "steps negative" "steps" -- "$QSCOPE" generate "$M" --steps -3
expect_ok help -- "$QSCOPE" generate --help
check "help lists --prompt" grep -q -- "--prompt" "$TMP/out"
summary
