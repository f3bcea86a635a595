"""Outside witness for weights in their stored type: numpy decodes the files' bytes itself
(GGUF F32, F16, Q8_0, Q4_0 from the format's block definitions; safetensors BF16 with the
Hugging Face q/k row order undone) and checks that
  - every tensor qscope expands (written back out as f32 by m:save) equals numpy's decoding
    bit for bit, and
  - a float64 PyTorch forward pass on numpy's decoded weights gives the NLL qscope ppl gives
    on the original file (within 1e-4), for each file.
Nothing here reads qscope's code; the GGUF reader below follows the published layout."""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

from witness import check, encode, finish, load_tokenizer, mean_nll, windows

ROOT = os.environ.get("QS_ROOT", ".")
QSCOPE = os.environ["QSCOPE"]
FIX = os.path.join(ROOT, "tests/fixtures")
TOK = os.path.join(ROOT, "data/models/tok512.bin")
CTX = 64
MAX_NLL_DIFF = 1e-4

# ---- GGUF, from the file-format description ----------------------------------------------

SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
          12: "d"}


def read_gguf(path):
    raw = open(path, "rb").read()
    off = 4
    version, n_t, n_kv = struct.unpack_from("<IQQ", raw, off)
    off += 20

    def string():
        nonlocal off
        (n,) = struct.unpack_from("<Q", raw, off)
        s = raw[off + 8:off + 8 + n]
        off += 8 + n
        return s.decode()

    def value(t):
        nonlocal off
        if t == 8:
            return string()
        if t == 9:
            (et, n) = struct.unpack_from("<IQ", raw, off)
            off += 12
            return [value(et) for _ in range(n)]
        fmt = "<" + SCALAR[t]
        (v,) = struct.unpack_from(fmt, raw, off)
        off += struct.calcsize(fmt)
        return v

    kv = {}
    for _ in range(n_kv):
        k = string()
        (t,) = struct.unpack_from("<I", raw, off)
        off += 4
        kv[k] = value(t)
    infos = []
    for _ in range(n_t):
        name = string()
        (nd,) = struct.unpack_from("<I", raw, off)
        off += 4
        ne = struct.unpack_from("<%dQ" % nd, raw, off)
        off += 8 * nd
        t, o = struct.unpack_from("<IQ", raw, off)
        off += 12
        infos.append((name, ne, t, o))
    align = kv.get("general.alignment", 32)
    base = (off + align - 1) // align * align
    return kv, {n: (ne, t, raw[base + o:]) for n, ne, t, o in infos}


def decode(ne, t, b):
    """float32 values of a tensor of ggml type t, shape ne (ne[0] contiguous), as numpy
    computes them: scale and code converted to float32, one float32 product."""
    n = int(np.prod(ne))
    if t == 0:
        v = np.frombuffer(b, "<f4", n)
    elif t == 1:
        v = np.frombuffer(b, "<f2", n).astype(np.float32)
    elif t == 8:  # Q8_0: fp16 d, 32 int8
        blk = np.frombuffer(b, np.uint8, n // 32 * 34).reshape(-1, 34)
        d = blk[:, :2].copy().view("<f2").astype(np.float32)
        q = blk[:, 2:].view(np.int8).astype(np.float32)
        v = (q * d).reshape(-1)
    elif t == 2:  # Q4_0: fp16 d, 16 bytes: value j low nibble, j + 16 high nibble, minus 8
        blk = np.frombuffer(b, np.uint8, n // 32 * 18).reshape(-1, 18)
        d = blk[:, :2].copy().view("<f2").astype(np.float32)
        qs = blk[:, 2:]
        q = np.concatenate([(qs & 15).astype(np.int32) - 8, (qs >> 4).astype(np.int32) - 8], 1)
        v = (q.astype(np.float32) * d).reshape(-1)
    else:
        raise ValueError("type %d not decoded here" % t)
    return v.reshape(tuple(reversed(ne)) if len(ne) > 1 else (ne[0],)).astype(np.float32)


GGUF_LAYER = [("attn_norm", "rms_att"), ("attn_q", "wq"), ("attn_k", "wk"), ("attn_v", "wv"),
              ("attn_output", "wo"), ("ffn_norm", "rms_ffn"), ("ffn_gate", "w1"),
              ("ffn_down", "w2"), ("ffn_up", "w3")]


def gguf_weights(path):
    kv, ts = read_gguf(path)
    L = kv["llama.block_count"]
    w = {"emb": decode(*ts["token_embd.weight"]), "rms_final": decode(*ts["output_norm.weight"])}
    if "output.weight" in ts:
        w["wcls"] = decode(*ts["output.weight"])
    for g, k in GGUF_LAYER:
        w[k] = np.stack([decode(*ts["blk.%d.%s.weight" % (l, g)]) for l in range(L)])
    types = sorted({t for _, t, _ in ts.values()})
    return w, types


# ---- safetensors BF16 ----------------------------------------------------------------------

HF_LAYER = [("input_layernorm", "rms_att"), ("self_attn.q_proj", "wq"), ("self_attn.k_proj", "wk"),
            ("self_attn.v_proj", "wv"), ("self_attn.o_proj", "wo"),
            ("post_attention_layernorm", "rms_ffn"), ("mlp.gate_proj", "w1"),
            ("mlp.down_proj", "w2"), ("mlp.up_proj", "w3")]


def hf_weights(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    raw = open(os.path.join(d, "model.safetensors"), "rb").read()
    (hn,) = struct.unpack_from("<Q", raw, 0)
    head = json.loads(raw[8:8 + hn])
    data = raw[8 + hn:]

    def get(name):
        e = head[name]
        a, b = e["data_offsets"]
        assert e["dtype"] == "BF16"
        u = np.frombuffer(data[a:b], "<u2").astype(np.uint32) << 16
        return u.view(np.float32).reshape(e["shape"])

    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg["hidden_size"] // H

    def interleave(w, heads):  # rotate_half rows -> llama2.c's interleaved pairs
        return w.reshape(heads, 2, hd // 2, -1).transpose(0, 2, 1, 3).reshape(heads * hd, -1)

    L = cfg["num_hidden_layers"]
    w = {"emb": get("model.embed_tokens.weight"), "rms_final": get("model.norm.weight")}
    for h, k in HF_LAYER:
        per = [get("model.layers.%d.%s.weight" % (l, h)) for l in range(L)]
        if k == "wq":
            per = [interleave(x, H) for x in per]
        if k == "wk":
            per = [interleave(x, KV) for x in per]
        w[k] = np.stack(per)
    return w, ["BF16"]


# ---- qscope's side ---------------------------------------------------------------------------

def qscope_expanded(model, out):
    """m:save as a llama2.c f32 file: the values qscope computes with, read back."""
    lua = out + ".lua"
    with open(lua, "w") as f:
        f.write('local m = qs.model(%r, {tokenizer = %r})\nm:save(%r)\n' % (model, TOK, out))
    r = subprocess.run([QSCOPE, "run", lua], capture_output=True, text=True)
    check(r.returncode == 0, "m:save of %s: %s" % (model, r.stderr))
    raw = open(out, "rb").read()
    dim, hidden, L, H, KV, V, seq = struct.unpack("<7i", raw[:28])
    kvd = KV * (dim // H)
    shapes = [("emb", (abs(V), dim)), ("rms_att", (L, dim)), ("wq", (L, dim, dim)),
              ("wk", (L, kvd, dim)), ("wv", (L, kvd, dim)), ("wo", (L, dim, dim)),
              ("rms_ffn", (L, dim)), ("w1", (L, hidden, dim)), ("w2", (L, dim, hidden)),
              ("w3", (L, hidden, dim)), ("rms_final", (dim,)), ("freqs", (2, seq, dim // H // 2))]
    if V < 0:
        shapes.append(("wcls", (-V, dim)))
    flat, off, w = np.frombuffer(raw[28:], np.float32), 0, {}
    for k, s in shapes:
        n = int(np.prod(s))
        w[k] = flat[off:off + n].reshape(s)
        off += n
    w.pop("freqs")
    cfg = dict(dim=dim, hidden=hidden, L=L, H=H, KV=KV, V=abs(V), hd=dim // H, seq=seq)
    return w, cfg


def torch_params(w, cfg):
    p = dict(cfg)
    for k, a in w.items():
        p[k] = torch.from_numpy(np.ascontiguousarray(a)).to(torch.float64)
    return p


def main():
    pieces, scores = load_tokenizer(TOK, 512)
    lines = open(os.path.join(ROOT, "data/text/tinystories_v2_valid_head100.txt")).read().split("\n")
    text = "\n".join(lines[1:6])
    tokens = [1] + encode(text, pieces, scores)
    wins = windows(tokens, CTX)
    tmp = tempfile.mkdtemp()
    tpath = os.path.join(tmp, "t.txt")
    open(tpath, "w").write(text)
    cases = [("stories260K-Q4_0.gguf", gguf_weights), ("stories260K-Q8_0.gguf", gguf_weights),
             ("hf-stories260K-bf16", hf_weights)]
    for name, reader in cases:
        path = os.path.join(FIX, name)
        mine, types = reader(path)
        got, cfg = qscope_expanded(path, os.path.join(tmp, name + ".bin"))
        same = sorted(k for k in mine if k in got and mine[k].shape == got[k].shape and
                      np.array_equal(mine[k].view(np.uint32), got[k].view(np.uint32)))
        check(set(same) == set(mine) == set(got),
              "%s (%s): tensors decoded alike: %s of %s" % (name, ",".join(map(str, types)),
                                                            same, sorted(mine)))
        ref_nll, n = mean_nll(torch_params(mine, cfg), wins)
        r = subprocess.run([QSCOPE, "ppl", path, tpath, "--tokenizer", TOK, "--ctx", str(CTX),
                            "--score", "all", "--json"], capture_output=True, text=True)
        check(r.returncode == 0, "qscope ppl %s: %s" % (name, r.stderr))
        if r.returncode == 0:
            got_nll = json.loads(r.stdout)["nll"]
            print("%s: numpy+torch NLL %.8f over %d tokens, qscope %.8f" % (name, ref_nll, n,
                                                                         got_nll))
            check(abs(got_nll - ref_nll) <= MAX_NLL_DIFF,
                  "%s: NLL differs by %.3g" % (name, abs(got_nll - ref_nll)))
    sys.exit(finish("test_dtype_numpy"))


main()
