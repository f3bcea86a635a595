# The hint `qscope plant` prints works, and messages name the real cause (issue 12, item 16).
# plant writes a llama2.c checkpoint without a tokenizer and says which --tokenizer to load
# it with. From a GGUF model that was the .gguf file itself, which --tokenizer read as a
# llama2.c tokenizer ("max_token_length = 1179993927 is out of range"); now --tokenizer
# takes a GGUF model's vocabulary, and a tokenizer.json with the tokenizer_config.json
# beside it. For each format the planted copy, loaded as the hint says, gives the
# original's perplexity (a plant keeps the function: within 1e-4 in NLL).
. "$QS_ROOT/tests/lib/common.sh"
TXT=$QS_ROOT/data/text/tinystories_v2_valid_head100.txt
PY=/usr/bin/python3
nll() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["nll"])' "$1"; }
for src in "$QS_ROOT/data/models/stories260K.bin" "$QS_ROOT/tests/fixtures/stories260K.gguf" \
           "$QS_ROOT/tests/fixtures/hf-stories260K"; do
    name=$(basename "$src")
    expect_ok "$name: ppl" -- "$QSCOPE" ppl "$src" "$TXT" --ctx 64 --max-tokens 512 --json --threads 1
    base=$(nll "$TMP/out")
    expect_ok "$name: plant" -- "$QSCOPE" plant "$src" -o "$TMP/p.bin" --plant ffn_in:1:3:10
    hint=$(sed -n 's/.*; load it with --tokenizer //p' "$TMP/err")
    check "$name: a --tokenizer hint ($hint)" [ -n "$hint" ]
    expect_ok "$name: the planted copy loads as the hint says" -- \
        "$QSCOPE" ppl "$TMP/p.bin" "$TXT" --tokenizer "$hint" --ctx 64 --max-tokens 512 --json --threads 1
    planted=$(nll "$TMP/out")
    check "$name: same perplexity ($base vs $planted)" approx "$base" "$planted" 1e-4
done
# a GGUF file without a vocabulary, given as --tokenizer
$PY - "$TMP/novocab.gguf" <<'PY'
import struct, sys
def s(x): b = x.encode(); return struct.pack("<Q", len(b)) + b
out = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + s("general.architecture") + struct.pack("<I", 8) + s("llama")
open(sys.argv[1], "wb").write(out)
PY
expect_fail "--tokenizer: a GGUF without a vocabulary" "novocab\.gguf: a GGUF file without a tokenizer" \
    -- "$QSCOPE" info "$QS_ROOT/data/models/stories260K.bin" --tokenizer "$TMP/novocab.gguf"
summary
