# llama2.c's versioned float32 checkpoint (export.py version 1: magic "ak42", 256-byte
# header, norms first, then embeddings and the per-layer matrices) holds the same model as
# the legacy file: rewriting stories260K in that layout must give identical perplexity.
. "$QS_ROOT/tests/lib/common.sh"
M=$QS_ROOT/data/models/stories260K.bin
TXT=$QS_ROOT/data/text/tinystories_v2_valid_head100.txt
/usr/bin/python3 - "$M" "$TMP/v1.bin" <<'PY'
import struct, sys
import numpy as np
raw = open(sys.argv[1], "rb").read()
dim, hidden, L, H, KV, V, S = struct.unpack("<7i", raw[:28])
w = np.frombuffer(raw[28:], dtype=np.float32)
hd = dim // H; kv = KV * hd; off = 0
def take(n):
    global off
    a = w[off:off + n]; off += n; return a
emb = take(V * dim); att = take(L * dim); wq = take(L * dim * dim); wk = take(L * kv * dim)
wv = take(L * kv * dim); wo = take(L * dim * dim); ffn = take(L * dim); w1 = take(L * hidden * dim)
w2 = take(L * dim * hidden); w3 = take(L * hidden * dim); fin = take(dim)
hdr = struct.pack("<Ii7iB", 0x616b3432, 1, dim, hidden, L, H, KV, V, S, 1)
hdr += b"\0" * (256 - len(hdr))
with open(sys.argv[2], "wb") as f:
    f.write(hdr)
    for a in (att, ffn, fin, emb, wq, wk, wv, wo, w1, w2, w3):
        f.write(a.tobytes())
PY
cp "$QS_ROOT/data/models/tok512.bin" "$TMP/"
expect_ok "v1 info" -- "$QSCOPE" info "$TMP/v1.bin" --json
check "v1 params" [ "$(json_get "$TMP/out" params)" = 260032 ]
expect_ok legacy -- "$QSCOPE" ppl "$M" "$TXT" --ctx 128 --max-tokens 3000 --json
A=$(json_get "$TMP/out" nll)
expect_ok v1 -- "$QSCOPE" ppl "$TMP/v1.bin" "$TXT" --ctx 128 --max-tokens 3000 --json
B=$(json_get "$TMP/out" nll)
check "same NLL ($A vs $B)" [ "$A" = "$B" ]
# version 2 (int8) is refused with a message
/usr/bin/python3 -c 'import struct,sys; open(sys.argv[1],"wb").write(struct.pack("<Ii",0x616b3432,2)+b"\0"*248)' "$TMP/v2.bin"
expect_fail "version 2 refused" "v2.bin.*version 2 is not supported" -- "$QSCOPE" info "$TMP/v2.bin"
head -c 100 "$TMP/v1.bin" > "$TMP/v1short.bin"
expect_fail "short v1 header" "v1short.bin.*256-byte" -- "$QSCOPE" info "$TMP/v1short.bin"
summary
