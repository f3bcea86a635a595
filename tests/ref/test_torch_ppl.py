"""Outside witness: an independent PyTorch (float64) implementation of the llama2.c forward
pass and a plain-Python llama2.c tokenizer compute the NLL of a text under the same window
protocol, and qscope ppl --json must agree (NLL within 1e-4, same number of scored tokens).
Nothing here shares code with qscope (witness.py is written from the formats)."""
import json
import os
import subprocess
import sys
import tempfile

import torch

from witness import check, encode, finish, load_tokenizer, load_torch_model, mean_nll, windows

ROOT = os.environ.get("QS_ROOT", ".")
QSCOPE = os.environ["QSCOPE"]
MODEL = os.path.join(ROOT, "data/models/stories260K.bin")
TOK = os.path.join(ROOT, "data/models/tok512.bin")
CTX = 64
MAX_NLL_ERROR = 1e-4


def main():
    p = load_torch_model(MODEL, torch.float64)
    pieces, scores = load_tokenizer(TOK, p["V"])
    lines = open(os.path.join(ROOT, "data/text/tinystories_v2_valid_head100.txt")).read().split("\n")
    text = "\n".join(lines[1:9])  # a few stories' worth, a few hundred tokens
    tokens = [1] + encode(text, pieces, scores)
    wins = windows(tokens, CTX)
    check(len(wins) >= 3, "text long enough for 3 windows")
    ref_nll, n = mean_nll(p, wins)
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
        check(abs(got["nll"] - ref_nll) <= MAX_NLL_ERROR, f"NLL differs by {abs(got['nll'] - ref_nll):.3g}")
    sys.exit(finish("test_torch_ppl"))


main()
