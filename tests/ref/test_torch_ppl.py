"""Outside witness: an independent PyTorch (float64) implementation of the llama2.c forward
pass and a plain-Python llama2.c tokenizer compute the NLL of a text under the same window
protocol, and qscope ppl --json must agree (NLL within 1e-4, same number of scored tokens).
Nothing here shares code with qscope."""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.environ.get("QS_ROOT", ".")
QSCOPE = os.environ["QSCOPE"]
MODEL = os.path.join(ROOT, "data/models/stories260K.bin")
TOK = os.path.join(ROOT, "data/models/tok512.bin")
CTX = 64
MAX_NLL_DIFF = 1e-4

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what, file=sys.stderr)


def load_model(path):
    raw = open(path, "rb").read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq = struct.unpack("<7i", raw[:28])
    w = np.frombuffer(raw[28:], dtype=np.float32)
    hd = dim // n_heads
    kv_dim = n_kv * hd
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        a = torch.from_numpy(w[off:off + n].reshape(shape).astype(np.float64))
        off += n
        return a

    p = dict(dim=dim, hidden=hidden, L=n_layers, H=n_heads, KV=n_kv, V=abs(vocab), hd=hd)
    p["emb"] = take(abs(vocab), dim)
    p["rms_att"] = take(n_layers, dim)
    p["wq"] = take(n_layers, dim, dim)
    p["wk"] = take(n_layers, kv_dim, dim)
    p["wv"] = take(n_layers, kv_dim, dim)
    p["wo"] = take(n_layers, dim, dim)
    p["rms_ffn"] = take(n_layers, dim)
    p["w1"] = take(n_layers, hidden, dim)
    p["w2"] = take(n_layers, dim, hidden)
    p["w3"] = take(n_layers, hidden, dim)
    p["rms_final"] = take(dim)
    return p


def rmsnorm(x, w):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-5) * w


def rope(x, n_heads, hd):
    T = x.shape[0]
    x = x.view(T, n_heads, hd // 2, 2)
    freqs = 10000.0 ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * freqs[None, :]
    c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    a, b = x[..., 0], x[..., 1]
    return torch.stack([a * c - b * s, a * s + b * c], -1).view(T, n_heads * hd)


def forward(p, tokens):
    T = len(tokens)
    x = p["emb"][torch.tensor(tokens)]
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    rep = p["H"] // p["KV"]
    for l in range(p["L"]):
        h = rmsnorm(x, p["rms_att"][l])
        q = rope(h @ p["wq"][l].T, p["H"], p["hd"]).view(T, p["H"], p["hd"]).transpose(0, 1)
        k = rope(h @ p["wk"][l].T, p["KV"], p["hd"]).view(T, p["KV"], p["hd"]).transpose(0, 1)
        v = (h @ p["wv"][l].T).view(T, p["KV"], p["hd"]).transpose(0, 1)
        k = k.repeat_interleave(rep, 0)
        v = v.repeat_interleave(rep, 0)
        att = torch.softmax(q @ k.transpose(1, 2) / p["hd"] ** 0.5 + mask, -1)
        o = (att @ v).transpose(0, 1).reshape(T, p["dim"])
        x = x + o @ p["wo"][l].T
        h = rmsnorm(x, p["rms_ffn"][l])
        x = x + (torch.nn.functional.silu(h @ p["w1"][l].T) * (h @ p["w3"][l].T)) @ p["w2"][l].T
    return rmsnorm(x, p["rms_final"]) @ p["emb"].T


def load_tokenizer(path, vocab):
    raw = open(path, "rb").read()
    off = 4
    pieces, scores = [], []
    for _ in range(vocab):
        score, n = struct.unpack("<fi", raw[off:off + 8])
        off += 8
        pieces.append(raw[off:off + n])
        scores.append(score)
        off += n
    return pieces, scores


def encode(text, pieces, scores):
    """llama2.c run.c's algorithm, written plainly: dummy prefix, code points, byte fallback,
    then merge the best-scoring adjacent pair until none merges."""
    lookup = {pc: i for i, pc in enumerate(pieces) if i > 2}
    ids = [lookup[b" "]]
    for ch in text:
        b = ch.encode()
        if b in lookup:
            ids.append(lookup[b])
        else:
            ids.extend(x + 3 for x in b)
    while True:
        best, best_i, best_id = -1e30, -1, -1
        for i in range(len(ids) - 1):
            m = lookup.get(pieces[ids[i]] + pieces[ids[i + 1]])
            if m is not None and scores[m] > best:
                best, best_i, best_id = scores[m], i, m
        if best_i < 0:
            return ids
        ids[best_i:best_i + 2] = [best_id]


def main():
    p = load_model(MODEL)
    pieces, scores = load_tokenizer(TOK, p["V"])
    lines = open(os.path.join(ROOT, "data/text/tinystories_v2_valid_head100.txt")).read().split("\n")
    text = "\n".join(lines[1:9])  # a few stories' worth, a few hundred tokens
    tokens = [1] + encode(text, pieces, scores)
    n_win = len(tokens) // CTX
    check(n_win >= 3, "text long enough for 3 windows")
    nll_sum, n = 0.0, 0
    for w in range(n_win):
        win = tokens[w * CTX:(w + 1) * CTX]
        win[0] = 1  # BOS replaces the first token (llama.cpp's protocol)
        logp = torch.log_softmax(forward(p, win), -1)
        for j in range(CTX - 1):
            nll_sum -= logp[j, win[j + 1]].item()
            n += 1
    ref_nll = nll_sum / n
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(text)
        path = f.name
    out = subprocess.run([QSCOPE, "ppl", MODEL, path, "--ctx", str(CTX), "--score", "all", "--json"],
                         capture_output=True, text=True)
    os.unlink(path)
    check(out.returncode == 0, "qscope ppl ran: " + out.stderr)
    if out.returncode == 0:
        got = json.loads(out.stdout)
        print(f"torch NLL {ref_nll:.8f} over {n} tokens; qscope {got['nll']:.8f} over {got['tokens_scored']}")
        check(got["tokens_scored"] == n, "same number of scored tokens")
        check(got["text_tokens"] == len(tokens), "same tokenization length")
        check(abs(got["nll"] - ref_nll) <= MAX_NLL_DIFF, f"NLL differs by {abs(got['nll'] - ref_nll):.3g}")
    print(f"test_torch_ppl: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


main()
