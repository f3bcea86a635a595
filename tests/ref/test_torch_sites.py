"""Outside witness for the capture sites: the raw activations qscope stores (`qscope profile
--dump SITE,LAYER,N`) must be what an independent PyTorch float64 forward (witness.py, from
the llama2.c format and DESIGN.md's site definitions) computes at the same point, for every
site and every layer, resid after the last block included:

  resid        the residual stream entering block L (L = n_layers: after the last block)
  attn_in      RMSNorm output, the input of q/k/v
  attn_o_in    attention output, the input of o
  ffn_in       RMSNorm output, the input of gate/up
  ffn_down_in  SiLU(gate) * up, the input of down
  k_cache      keys after RoPE as written to the cache, (T, n_kv_heads * head_dim)
  v_cache      values as written to the cache

Tolerance: 1e-4 of the site's absmax (qscope computes in float32). A site confused with
its neighbour (before/after a norm, before/after a residual add) differs by far more."""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch

from witness import check, encode, finish, forward, load_tokenizer, load_torch_model

ROOT = os.environ.get("QS_ROOT", ".")
QSCOPE = os.environ["QSCOPE"]
MODEL = os.path.join(ROOT, "data/models/stories260K.bin")
TOK = os.path.join(ROOT, "data/models/tok512.bin")
TEXT = os.path.join(ROOT, "data/text/tinystories_v2_valid_head100.txt")
CTX = 64
MAX_SITE_REL_ERROR = 1e-4


def main():
    p = load_torch_model(MODEL, torch.float64)
    L = p["L"]
    per_block = ("attn_in", "attn_o_in", "ffn_in", "ffn_down_in", "k_cache", "v_cache")
    sites = [(s, l) for s in per_block for l in range(L)]
    sites += [("resid", l) for l in range(L + 1)]
    tmp = tempfile.mkdtemp()
    out = os.path.join(tmp, "d.h5")
    run_of = {}     # one profile run per site (at most 16 dumps per run), appended to one file
    for run, site in enumerate(per_block + ("resid",), 1):
        cmd = [QSCOPE, "profile", MODEL, TEXT, "-o", out, "--tokens", str(CTX), "--ctx", str(CTX),
               "--threads", "1", "--sites", site]
        for s, l in sites:
            if s == site:
                cmd += ["--dump", f"{s},{l},{CTX}"]
                run_of[s, l] = run
        r = subprocess.run(cmd, capture_output=True, text=True)
        if not check(r.returncode == 0, f"qscope profile --dump ({site}) ran: " + r.stderr):
            sys.exit(finish("test_torch_sites"))

    # the same first window, tokenized here: BOS, then the text
    pieces, scores = load_tokenizer(TOK, p["V"])
    text = open(TEXT, encoding="utf-8").read()[:2000]
    tokens = ([1] + encode(text, pieces, scores))[:CTX]
    seen = {}

    def grab(x, site, layer):
        seen[site, layer] = x.detach().numpy().copy()

    with torch.no_grad():
        logits = forward(p, tokens, at_site=grab)
    check(logits.shape == (CTX, p["V"]), "torch forward ran")
    with h5py.File(out, "r") as f:
        dump = {(s, l): f[f"runs/{run_of[s, l]}/dump/{s}/{l}"][()] for s, l in sites}
        for s, l in sites:
            got = dump[s, l]
            want = seen[s, l]
            scale = np.abs(want).max()
            err = np.abs(got.astype(np.float64) - want).max()
            ok = got.shape == want.shape and err <= MAX_SITE_REL_ERROR * scale
            check(ok, f"{s} layer {l}: shape {got.shape} vs {want.shape}, max |diff| {err:.3g} "
                      f"(absmax {scale:.3g})")
        worst = max(np.abs(dump[s, l] - seen[s, l]).max() / np.abs(seen[s, l]).max() for s, l in sites)
    print(f"{len(sites)} site x layer dumps of {CTX} tokens; worst max|diff| / absmax {worst:.2e}")
    # a site read one step off would not pass: attn_in is not resid, ffn_in is not attn_in
    check(np.abs(seen["attn_in", 0] - seen["resid", 0]).max() > 100 * MAX_SITE_REL_ERROR * np.abs(seen["attn_in", 0]).max(),
          "neighbouring sites differ (the check can fail)")
    subprocess.run(["rm", "-rf", tmp])
    sys.exit(finish("test_torch_sites"))


main()
