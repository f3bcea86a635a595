"""Outside witness for the remedies' pure algorithms, written from their published
descriptions and from the definitions in qscope's headers alone (no code is shared):

- rotations (core/quant/hadamard.h): R = diag(d)·(H_p ⊗ F_m)/√p, d from splitmix64, H_p the
  Sylvester Hadamard matrix, F_m the discrete Hartley matrix. Rebuilt here and compared with
  the matrices test_hadamard --dump writes (float32, within 2e-6 per entry);
- GPTQ (Frantar et al. 2023; core/quant/gptq.h): H = XᵀX, dead inputs, act-order, damping
  0.01·mean(diag H), U = upper Cholesky factor of the inverse, column-by-column error
  feedback, per-row or per-group (dynamic, or static with act-order) symmetric grids with
  fp16 scales. Run in float64 torch on the case test_gptq --dump writes; the quantized
  weights must agree with qscope's for >= 99.5 % of entries and the output error within 1 %.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

from witness import check, finish, gptq, rotation

BUILD = os.environ.get("QS_BUILD", "build")
def exe(name):
    for p in (os.path.join(BUILD, "tests", name), os.path.join(BUILD, name)):
        if os.path.exists(p):
            return p
    raise SystemExit(f"{name} not built under {BUILD}")


def check_rotations(tmp):
    for line in open(os.path.join(tmp, "rotations.txt")):
        fname, n, p, m, seed = line.split()
        n, p, m, seed = int(n), int(p), int(m), int(seed)
        got = np.fromfile(os.path.join(tmp, fname), dtype=np.float32).reshape(n, n)
        want = rotation(n, seed)
        err = np.abs(got - want).max()
        print(f"rotation n={n} (p={p}, m={m}, seed={seed}): max |qscope - here| {err:.2e}")
        check(err < 2e-6, f"rotation {n} seed {seed}: differs by {err}")
        check(np.abs(want @ want.T - np.eye(n)).max() < 1e-12, f"rotation {n}: orthogonal here")


def out_err(w, q, x):
    d = (w.to(torch.float64) - q.to(torch.float64))
    return ((x.to(torch.float64) @ d.T) ** 2).sum().item() / x.shape[0]


def check_gptq(tmp):
    lines = open(os.path.join(tmp, "gptq.txt")).read().split("\n")
    T, R, C = (int(v) for v in lines[0].split()[1:])
    x = torch.from_numpy(np.fromfile(os.path.join(tmp, "gptq_x.f32"), np.float32).reshape(T, C))
    w = torch.from_numpy(np.fromfile(os.path.join(tmp, "gptq_w.f32"), np.float32).reshape(R, C))
    for line in lines[1:]:
        if not line.strip():
            continue
        name, bits, group, act, err, err_rtn = line.split()
        bits, group, act = int(bits), int(group), int(act)
        got = torch.from_numpy(np.fromfile(os.path.join(tmp, f"gptq_{name}.f32"),
                                           np.float32).reshape(R, C))
        want = gptq(w, x.T.to(torch.float64) @ x.to(torch.float64), bits, group, act)
        agree = (got == want).double().mean().item()
        e_got, e_want = out_err(w, got, x), out_err(w, want, x)
        print(f"GPTQ {name}: {100 * agree:.2f} % of weights equal; output error qscope "
              f"{e_got:.5g} (its report {float(err):.5g}), here {e_want:.5g}; RTN {float(err_rtn):.5g}")
        check(agree >= 0.995, f"GPTQ {name}: only {agree:.4f} of the weights agree")
        check(abs(e_got / e_want - 1) < 0.01, f"GPTQ {name}: output error {e_got} vs {e_want}")
        check(abs(e_got / float(err) - 1) < 1e-6, f"GPTQ {name}: reported error {err} vs {e_got}")
        check(e_want < 0.7 * float(err_rtn), f"GPTQ {name}: better than round-to-nearest")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("test_hadamard", "test_gptq"):
            r = subprocess.run([exe(name), "--dump", tmp], capture_output=True, text=True)
            check(r.returncode == 0, f"{name} --dump: {r.stderr}")
        check_rotations(tmp)
        check_gptq(tmp)
    sys.exit(finish("test_torch_remedy_algos"))


main()
