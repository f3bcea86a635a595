"""What the outside witnesses share, written from the file formats and the published
definitions alone (nothing here reads qscope's code): a pass/fail tally, the llama2.c
checkpoint and tokenizer readers, and a PyTorch LLaMA forward pass with hooks at the capture
sites. The test scripts in this folder import it (and Python checks inside
tests/cli/*.sh, through QS_ROOT); ctest runs only test_*.py."""
import struct
import sys

import numpy as np

_tally = {"passed": 0, "failed": 0}


def check(cond, what):
    """Counts one check; a failure is printed and the run goes on."""
    if cond:
        _tally["passed"] += 1
    else:
        _tally["failed"] += 1
        print("FAIL:", what, file=sys.stderr)
    return cond


def failures():
    return _tally["failed"]


def finish(name):
    """Prints the tally and returns the exit status (1 if any check failed)."""
    print(f"{name}: {_tally['passed']} passed, {_tally['failed']} failed")
    return 1 if _tally["failed"] else 0


# ---- llama2.c formats -----------------------------------------------------------------------

LLAMA2C_TENSORS = ("emb", "rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3", "rms_final")


def read_llama2c(path):
    """The legacy llama2.c checkpoint: 7 int32 header fields, then float32 tensors in the order
    of LLAMA2C_TENSORS. Returns (cfg, flat, views): flat is a writable float32 copy of every
    weight, views maps a tensor name to its slice of flat."""
    raw = open(path, "rb").read()
    dim, hidden, L, H, KV, V, seq = struct.unpack("<7i", raw[:28])
    cfg = dict(dim=dim, hidden=hidden, L=L, H=H, KV=KV, V=abs(V), hd=dim // H, seq=seq)
    kv = KV * (dim // H)
    shapes = {"emb": (abs(V), dim), "rms_att": (L, dim), "wq": (L, dim, dim), "wk": (L, kv, dim),
              "wv": (L, kv, dim), "wo": (L, dim, dim), "rms_ffn": (L, dim), "w1": (L, hidden, dim),
              "w2": (L, dim, hidden), "w3": (L, hidden, dim), "rms_final": (dim,)}
    flat = np.frombuffer(raw[28:], dtype=np.float32).copy()
    views, off = {}, 0
    for name in LLAMA2C_TENSORS:
        n = int(np.prod(shapes[name]))
        views[name] = flat[off:off + n].reshape(shapes[name])
        off += n
    return cfg, flat[:off], views


def load_torch_model(path, dtype):
    """The checkpoint as a dict of torch tensors of dtype, with the config's keys beside them."""
    import torch
    cfg, _, views = read_llama2c(path)
    p = dict(cfg)
    for name, a in views.items():
        p[name] = torch.from_numpy(a.copy()).to(dtype)
    return p


def load_tokenizer(path, vocab):
    """llama2.c tokenizer.bin: int32 max length, then per piece a float32 score, an int32
    length and the bytes."""
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


def windows(tokens, ctx):
    """Non-overlapping windows of ctx tokens, BOS (id 1) replacing the first of each."""
    out = []
    for w in range(len(tokens) // ctx):
        win = tokens[w * ctx:(w + 1) * ctx]
        win[0] = 1
        out.append(win)
    return out


# ---- the forward pass (float64) -------------------------------------------------------------

LINEAR_INPUTS = ("attn_in", "attn_o_in", "ffn_in", "ffn_down_in")


def rmsnorm(x, w):
    import torch
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-5) * w


def rope(x, n_heads, hd):
    """Interleaved pairs (llama2.c / Meta layout), theta 10000."""
    import torch
    T = x.shape[0]
    x = x.view(T, n_heads, hd // 2, 2)
    freqs = 10000.0 ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * freqs[None, :]
    c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    a, b = x[..., 0], x[..., 1]
    return torch.stack([a * c - b * s, a * s + b * c], -1).view(T, n_heads * hd)


def forward(p, tokens, at_input=None, at_site=None):
    """Logits (T x V, float64) of one causal window. at_input(x, site), when given, may replace
    the activation entering a linear layer (site is one of LINEAR_INPUTS). at_site(x, site,
    layer), when given, sees every capture site as DESIGN.md names them: those four, resid,
    the stream entering block `layer` (layer n_layers: after the last block), and k_cache,
    v_cache: the keys after RoPE and the values, (T, n_kv_heads * hd) head-major. at_input
    sees k_cache and v_cache too (KV-cache quantization), before any query reads them. p may
    hold an untied classifier "wcls" (V x dim); else the embedding is the classifier."""
    import torch

    def hook(x, site):
        if at_site:
            at_site(x, site, l)
        return at_input(x, site) if at_input else x
    T = len(tokens)
    f = {k: (v.to(torch.float64) if isinstance(v, torch.Tensor) else v) for k, v in p.items()}
    H, KV, hd = p["H"], p["KV"], p["hd"]
    x = f["emb"][torch.tensor(tokens)]
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    for l in range(p["L"]):
        hook(x, "resid")
        h = hook(rmsnorm(x, f["rms_att"][l]), "attn_in")
        q = rope(h @ f["wq"][l].T, H, hd).view(T, H, hd).transpose(0, 1)
        k = hook(rope(h @ f["wk"][l].T, KV, hd), "k_cache").view(T, KV, hd).transpose(0, 1)
        v = hook(h @ f["wv"][l].T, "v_cache").view(T, KV, hd).transpose(0, 1)
        k = k.repeat_interleave(H // KV, 0)
        v = v.repeat_interleave(H // KV, 0)
        att = torch.softmax(q @ k.transpose(1, 2) / hd ** 0.5 + mask, -1)
        o = hook((att @ v).transpose(0, 1).reshape(T, p["dim"]), "attn_o_in")
        x = x + o @ f["wo"][l].T
        h = hook(rmsnorm(x, f["rms_ffn"][l]), "ffn_in")
        g = hook(torch.nn.functional.silu(h @ f["w1"][l].T) * (h @ f["w3"][l].T), "ffn_down_in")
        x = x + g @ f["w2"][l].T
    l = p["L"]
    hook(x, "resid")
    return rmsnorm(x, f["rms_final"]) @ f.get("wcls", f["emb"]).T  # wcls: an untied classifier


def mean_nll(p, wins, at_input=None):
    """Mean NLL over every next-token prediction of the windows, and how many were scored."""
    import torch
    total, n = 0.0, 0
    for win in wins:
        logp = torch.log_softmax(forward(p, win, at_input), -1)
        for j in range(len(win) - 1):
            total -= logp[j, win[j + 1]].item()
            n += 1
    return total / n, n


# ---- remedies (core/quant/hadamard.h, gptq.h), from their published descriptions ------------

MASK64 = (1 << 64) - 1


def splitmix64(state):
    """One step: (new state, output), all mod 2^64."""
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def rotation(n, seed):
    """R = diag(d)·(H_p ⊗ F_m)/√p (float64 numpy): n = p·m with p the largest power of two
    dividing n, d_j = -1 when bit 63 of splitmix64 output j is set, H_p Sylvester's Hadamard
    matrix, F_m the discrete Hartley matrix (cos + sin of 2π·bc/m) / √m."""
    p = n & -n
    m = n // p
    st, d = seed, np.empty(n)
    for j in range(n):
        st, z = splitmix64(st)
        d[j] = -1.0 if z >> 63 else 1.0
    h = np.array([[1.0]])
    while h.shape[0] < p:
        h = np.block([[h, h], [h, -h]])
    k = np.arange(m)
    ang = 2 * np.pi * (np.outer(k, k) % m) / m
    f = (np.cos(ang) + np.sin(ang)) / np.sqrt(m)
    return np.diag(d) @ np.kron(h, f) / np.sqrt(p)


def fp16(x):
    import torch
    return x.to(torch.float16).to(torch.float64)


def sym_scale(v, bits):
    """The symmetric restricted grid's fp16 scale of the values v (per row of the last dim)."""
    import torch
    qmax = 2 ** (bits - 1) - 1
    return fp16(v.abs().amax(-1).to(torch.float32).to(torch.float64) / qmax)


def sym_quant(w, s, bits):
    """Round half to even of float32 w / s, clamped to ±(2^(b-1)-1), times s; s = 0 gives 0."""
    import torch
    qmax = 2 ** (bits - 1) - 1
    safe = torch.where(s > 0, s, torch.ones_like(s))
    q = torch.round(w.to(torch.float32) / safe.to(torch.float32)).clamp(-qmax, qmax)
    return torch.where(s > 0, q.to(torch.float64) * s, torch.zeros_like(s)).to(torch.float32)


def gptq(w, H, bits, group, act_order, damp=0.01):
    """GPTQ (Frantar et al. 2023) of w (R x C) against the Hessian H = Σ xᵀx (C x C): columns
    in order (act-order: by decreasing diag H), each rounded to its row's (group's) symmetric
    grid, its error spread over the later columns through the upper Cholesky factor of the
    dampened inverse Hessian. Per-row grids come from the starting weights; group grids from
    the updated weights at the group's first column, or (act-order) from the starting weights
    (static groups). Dead inputs (diag H = 0) are zeroed. Returns float32 weights."""
    import torch
    W = w.clone().to(torch.float64)
    H = H.clone().to(torch.float64)
    R, C = W.shape
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    W0 = W.clone()
    perm = torch.arange(C)
    if act_order:
        perm = torch.tensor(sorted(range(C), key=lambda i: (-H[i, i].item(), i)))
        W = W[:, perm]
        H = H[perm][:, perm]
    H += damp * torch.mean(torch.diag(H)) * torch.eye(C, dtype=torch.float64)
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    Q = torch.zeros(R, C, dtype=torch.float32)
    if group == 0:
        s_row = sym_scale(W0, bits)
    elif act_order:
        static = torch.stack([sym_scale(W0[:, g:g + group], bits) for g in range(0, C, group)], 1)
    cur = None
    for i in range(C):
        c = perm[i].item()
        if group == 0:
            s = s_row
        elif act_order:
            s = static[:, c // group]
        else:
            if c % group == 0:
                cur = sym_scale(W[:, i:i + group], bits)
            s = cur
        q = sym_quant(W[:, i], s, bits)
        Q[:, c] = q
        err = (W[:, i] - q.to(torch.float64)) / U[i, i]
        W[:, i + 1:] -= err[:, None] * U[i, i + 1:][None, :]
    return Q
