"""Outside witness for fake-quantized evaluation: an independent PyTorch forward of
stories260K (float64, read from the llama2.c file here; tokenized by a plain-Python
llama2.c tokenizer here) applies the same fake-quant configurations as qscope, written
from the quantizer's definition (core/quant.h):

  symmetric restricted grid q in [-(2^(b-1)-1), 2^(b-1)-1], scale s = t / qmax rounded to
  fp16 (round to nearest even), t = absmax of the group, codes rint(x / s) (half to even),
  clamped; affine: s = (hi - lo) / (2^b - 1) in fp16, z = clamp(rint(-lo / s)), range
  widened to contain 0. Scales and codes in float32 arithmetic, like qscope.

Weights of the seven linear layers are quantized offline (per-channel = per output row,
gG = G consecutive inputs of a row, last group shorter, per-tensor = one scale); the
embedding, the classifier and the norms are not. Activations are quantized in the forward
at the four linear inputs attn_in, attn_o_in, ffn_in, ffn_down_in, per token (row) or per
tensor (the whole window). qscope eval --json must agree: PPL(Q) within 0.5% relative and
PPL(base) within 1e-4 relative, on the same scored tokens. Nothing here shares code with
qscope (witness.py is written from the formats)."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

from witness import (LINEAR_INPUTS, check, encode, finish, load_tokenizer, load_torch_model,
                     mean_nll, windows)

ROOT = os.environ.get("QS_ROOT", ".")
QSCOPE = os.environ["QSCOPE"]
MODEL = os.path.join(ROOT, "data/models/stories260K.bin")
TOK = os.path.join(ROOT, "data/models/tok512.bin")
CTX = 64
MAX_PPL_REL_ERROR = 5e-3       # PPL(Q): 0.5% relative
MAX_BASE_PPL_REL_ERROR = 1e-4  # PPL(base)
MIN_NLL_CHANGE = 1e-4          # a quantized model must differ from the base


# ---- the quantizer, from its definition ---------------------------------------------------

def fp16(s):
    return s.to(torch.float16).to(torch.float32)


def fq_groups(x, bits, scheme):
    """Fake-quantizes float32 x with one scale per row of its last dimension."""
    if scheme == "symmetric":
        qmax = float(2 ** (bits - 1) - 1)
        t = x.abs().amax(-1, keepdim=True)
        s = fp16(t / qmax)
        safe = torch.where(s > 0, s, torch.ones_like(s))
        q = torch.round(x / safe).clamp(-qmax, qmax)
        return torch.where(s > 0, q * s, torch.zeros_like(x))
    qmax = float(2 ** bits - 1)
    lo = torch.clamp(x.amin(-1, keepdim=True), max=0.0)
    hi = torch.clamp(x.amax(-1, keepdim=True), min=0.0)
    s = fp16((hi - lo) / qmax)
    safe = torch.where(s > 0, s, torch.ones_like(s))
    z = torch.round(-lo / safe).clamp(0, qmax)
    q = (torch.round(x / safe) + z).clamp(0, qmax)
    return torch.where(s > 0, (q - z) * s, torch.zeros_like(x))


def fq(x, bits, gran, group=0, scheme="symmetric"):
    """x: float32 matrix (rows, cols). gran: tensor | row | group."""
    if gran == "tensor":
        return fq_groups(x.reshape(1, -1), bits, scheme).reshape(x.shape)
    if gran == "row":
        return fq_groups(x, bits, scheme)
    parts = torch.split(x, group, dim=-1)       # the last group is shorter
    return torch.cat([fq_groups(p, bits, scheme) for p in parts], dim=-1)


# ---- the forward, with activation fake-quant at the linear inputs ----------------------------

def act_quant(act):
    """The at_input hook for witness.forward: act is None, or (bits, gran[, sites]) applied
    at those linear inputs (default all four), in float32."""
    if act is None:
        return None

    if isinstance(act[0], tuple):               # one spec per site set
        parts = [act_quant(a) for a in act]

        def chain(x, site):
            for f in parts:
                x = f(x, site)
            return x
        return chain

    def aq(x, site):
        if site not in (act[2] if len(act) > 2 else LINEAR_INPUTS):
            return x
        x32 = x.to(torch.float32)
        if act[1] == "col":                     # one scale per channel over the window
            return fq(x32.T.contiguous(), act[0], "row").T.to(torch.float64)
        if act[1].startswith("group"):
            return fq(x32, act[0], "group", int(act[1][5:])).to(torch.float64)
        return fq(x32, act[0], act[1]).to(torch.float64)
    return aq


def quantize_weights(p, bits, gran, group=0, scheme="symmetric"):
    q = dict(p)
    for name in ("wq", "wk", "wv", "wo", "w1", "w2", "w3"):
        q[name] = torch.stack([fq(p[name][l], bits, gran, group, scheme) for l in range(p["L"])])
    return q


# config name -> (weights: None or (bits, gran, group, scheme), activations: None or (bits, gran))
CONFIGS = {
    "W4A16 g32": ((4, "group", 32, "symmetric"), None),
    "W8A8 per-tensor": ((8, "tensor", 0, "symmetric"), (8, "tensor")),
    "W8A8 per-token": ((8, "row", 0, "symmetric"), (8, "row")),
    "W6A16 per-channel affine": ((6, "row", 0, "affine"), None),
    "W16A6 per-token": (None, (6, "row")),
}
# One site at a time at 3 bits, where each site alone moves PPL by several percent: a
# site quantized in the wrong place (or not at all) cannot hide inside the tolerance.
for site in LINEAR_INPUTS:
    CONFIGS[f"W16A3 per-token sites:{site}"] = (None, (3, "row", (site,)))
# The KV cache, quantized as it is written: at k_cache (keys after RoPE) and v_cache, before
# any query reads them; per-token = one scale per position over every kv head's channels,
# g8 = per head (head_dim 8), per-channel-k = keys one scale per channel over the window.
CONFIGS["W16A16 KV4 per-token"] = (None, (4, "row", ("k_cache", "v_cache")))
CONFIGS["W16A16 KV4 g8"] = (None, (4, "group8", ("k_cache", "v_cache")))
CONFIGS["W16A16 KV4 per-channel-k"] = (None, ((4, "col", ("k_cache",)), (4, "row", ("v_cache",))))
MIN_EFFECT = 0.02         # single-site configs: |PPL(Q)/PPL(base) - 1| in torch


def main():
    p = load_torch_model(MODEL, torch.float32)     # float32, as stored: weights quantize in it
    pieces, scores = load_tokenizer(TOK, p["V"])
    lines = open(os.path.join(ROOT, "data/text/tinystories_v2_valid_head100.txt")).read().split("\n")
    text = "\n".join(lines[1:25])
    tokens = [1] + encode(text, pieces, scores)
    wins = windows(tokens, CTX)
    check(len(wins) >= 20, "text long enough for 20 windows")
    base_nll, n = mean_nll(p, wins)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(text)
        path = f.name
    try:
        for name, (wq, act) in CONFIGS.items():
            pq = quantize_weights(p, *wq) if wq else p
            q_nll, _ = mean_nll(pq, wins, act_quant(act))
            out = subprocess.run([QSCOPE, "eval", MODEL, path, "--ctx", str(CTX), "--score", "all",
                                  "--config", name, "--threads", "1", "--json"],
                                 capture_output=True, text=True)
            check(out.returncode == 0, f"{name}: qscope eval ran: {out.stderr}")
            if out.returncode != 0:
                continue
            got = json.loads(out.stdout)
            r = got["result"]
            ref_ppl, ref_base = np.exp(q_nll), np.exp(base_nll)
            rel = abs(r["ppl_q"] / ref_ppl - 1)
            rel_base = abs(r["ppl_base"] / ref_base - 1)
            print(f"{name:34s} torch PPL {ref_ppl:.5f} (base {ref_base:.5f}); qscope {r['ppl_q']:.5f} "
                  f"(base {r['ppl_base']:.5f}); rel diff {rel:.2e}, base {rel_base:.2e}")
            check(got["config"] == name, f"{name}: canonical name printed as written ({got['config']})")
            check(r["tokens"] == n, f"{name}: same scored tokens ({r['tokens']} vs {n})")
            check(rel <= MAX_PPL_REL_ERROR, f"{name}: PPL(Q) differs by {rel:.3g} relative")
            check(rel_base <= MAX_BASE_PPL_REL_ERROR, f"{name}: PPL(base) differs by {rel_base:.3g} relative")
            # the quantized model must actually differ from the base (a no-op would pass)
            check(abs(q_nll - base_nll) > MIN_NLL_CHANGE, f"{name}: quantization changed the NLL")
            if "sites:" in name:
                check(abs(ref_ppl / ref_base - 1) >= MIN_EFFECT, f"{name}: the site alone moves PPL")
    finally:
        os.unlink(path)
    sys.exit(finish("test_torch_fakequant"))


main()
