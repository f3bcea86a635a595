# Checks at load time (issue 12, items 5, 6 and 7):
#  - item 5: the Hugging Face loader refuses what it would not use: a config.json saying 4
#    layers over the 5-layer checkpoint (it loaded, PPL 27.5 instead of 10.8), a
#    q_proj.bias the architecture has no place for, a tensor of another architecture, an
#    lm_head.weight that differs from a tied embedding;
#  - item 6: config.json and the sharded index are checked in O(n log n): 300 000 keys (a
#    6.6 MB config; the quadratic duplicate check took 22 s for 80 000 keys, so well over
#    ten minutes for these) load within the `timeout`, and a repeated key is still refused;
#  - item 7: NaN or Inf in stored weights (F32, F16, BF16 safetensors; F32, F16 and Q8_0
#    scales in GGUF; llama2.c F32), in tokenizer scores, and a plant that would overflow
#    float are refused with the tensor's name and the element (or block) index.
. "$QS_ROOT/tests/lib/common.sh"
PY=/usr/bin/python3
HF=$QS_ROOT/tests/fixtures/hf-stories260K
HF16=$QS_ROOT/tests/fixtures/hf-stories260K-bf16
M=$QS_ROOT/data/models/stories260K.bin
TXT=$QS_ROOT/data/text/tinystories_v2_valid_head100.txt
# st_edit DIR PYTHON: runs PYTHON with `t` = {name: (dtype, shape, bytes)} of DIR's
# model.safetensors, then writes the (edited) dict back
st_edit() {
    $PY - "$1/model.safetensors" "$2" <<'PY'
import json, struct, sys
fn, code = sys.argv[1], sys.argv[2]
raw = open(fn, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n]); data = raw[8 + n:]
meta = hdr.pop("__metadata__", None)
t = {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]])
     for k, v in hdr.items()}
exec(code)
out, off, blob = {}, 0, bytearray()
for k, (dt, sh, b) in t.items():
    out[k] = {"dtype": dt, "shape": sh, "data_offsets": [off, off + len(b)]}
    blob += b; off += len(b)
if meta is not None: out["__metadata__"] = meta
h = json.dumps(out).encode(); h += b" " * (-len(h) % 8)
open(fn, "wb").write(struct.pack("<Q", len(h)) + h + bytes(blob))
PY
}
fresh() { rm -rf "$TMP/$2"; cp -r "$1" "$TMP/$2"; }
cfg_set() { # DIR KEY VALUE(json)
    $PY -c 'import json,sys; p=sys.argv[1]+"/config.json"; c=json.load(open(p)); c[sys.argv[2]]=json.loads(sys.argv[3]); json.dump(c,open(p,"w"))' "$@"
}

# ---- item 5 ----------------------------------------------------------------------------------
expect_ok "the fixture loads" -- "$QSCOPE" info "$HF"
fresh "$HF" layers; cfg_set "$TMP/layers" num_hidden_layers 4
expect_fail "config says 4 layers, checkpoint has 5" \
    "layers/model\.safetensors: holds tensor 'model\.layers\.4\.[a-z_.]+' of layer 4, but config\.json says num_hidden_layers = 4" \
    -- "$QSCOPE" info "$TMP/layers"
fresh "$HF" bias
st_edit "$TMP/bias" 't["model.layers.0.self_attn.q_proj.bias"] = ("F32", [64], bytes(256))'
expect_fail "unexpected q_proj.bias" \
    "bias/model\.safetensors: holds tensor 'model\.layers\.0\.self_attn\.q_proj\.bias', but the architecture in config\.json \(llama\) has no such bias" \
    -- "$QSCOPE" info "$TMP/bias"
fresh "$HF" other
st_edit "$TMP/other" 't["model.layers.0.mlp.experts.0.weight"] = ("F32", [4], bytes(16))'
expect_fail "a tensor of another architecture" "other/model\.safetensors: holds tensor 'model\.layers\.0\.mlp\.experts\.0\.weight', which a llama model does not have" \
    -- "$QSCOPE" info "$TMP/other"
fresh "$HF" tied
cfg_set "$TMP/tied" tie_word_embeddings true
st_edit "$TMP/tied" '
e = t["model.embed_tokens.weight"]
t["lm_head.weight"] = (e[0], e[1], e[2][:-4] + bytes(4))'
expect_fail "lm_head differs from the tied embedding" "tied/model\.safetensors: holds lm_head\.weight, but config\.json ties the classifier" \
    -- "$QSCOPE" info "$TMP/tied"
st_edit "$TMP/tied" 't["lm_head.weight"] = t["model.embed_tokens.weight"]'
expect_ok "lm_head equal to the tied embedding" -- "$QSCOPE" info "$TMP/tied"

# ---- item 6 ----------------------------------------------------------------------------------
fresh "$HF" keys
$PY - "$TMP/keys/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
for i in range(300000): c["unused_key_%06d" % i] = i
json.dump(c, open(sys.argv[1], "w"))
PY
expect_ok "300 000 config keys" -- timeout 120 "$QSCOPE" info "$TMP/keys"
printf '%s' "$(head -c -1 "$TMP/keys/config.json"), \"unused_key_123456\": 1}" > "$TMP/keys/config.json"
expect_fail "a repeated key among 300 000" "keys/config\.json: field 'unused_key_123456' appears twice" \
    -- timeout 120 "$QSCOPE" info "$TMP/keys"

# ---- item 7 (the file cases are in tests/bad: l2c_nan_*, hf_*inf*, gguf_*_q8_0, tok_nan_*) ---
expect_fail "plant --scale 1e39" "plant: scale 1e\+39 is outside float's range" -- \
    "$QSCOPE" plant "$M" -o "$TMP/p.bin" --plant ffn_in:1:3:1e39
expect_fail "plant --scale 1e-39" "plant: scale 1e-39 is outside float's range" -- \
    "$QSCOPE" plant "$M" -o "$TMP/p.bin" --plant ffn_in:1:3:1e-39
expect_fail "two plants whose product overflows" \
    "plant: scale 1e\+38 overflows float: blk\.1\.ffn_norm element 3 \([0-9.e+]+\) leaves float's range" -- \
    "$QSCOPE" plant "$M" -o "$TMP/p.bin" --plant ffn_in:1:3:1e38 --plant ffn_in:1:3:1e38
check "no checkpoint written" [ ! -e "$TMP/p.bin" ]
summary
