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

from witness import check, finish

BUILD = os.environ.get("QS_BUILD", "build")
MASK = (1 << 64) - 1


def exe(name):
    for p in (os.path.join(BUILD, "tests", name), os.path.join(BUILD, name)):
        if os.path.exists(p):
            return p
    raise SystemExit(f"{name} not built under {BUILD}")


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def rotation(n, seed):
    p = n & -n                                   # the largest power of two dividing n
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


def fp16(x):
    return x.to(torch.float16).to(torch.float64)


def grid_of(v, bits):
    """Symmetric restricted grid of the values v (rows x n): fp16 scale absmax / qmax."""
    qmax = 2 ** (bits - 1) - 1
    return fp16(v.abs().amax(-1).to(torch.float32).to(torch.float64) / qmax)


def quant(w, s, bits):
    """Round-to-nearest-even of float32 w / s, clamped, times s (s = 0 gives 0)."""
    qmax = 2 ** (bits - 1) - 1
    safe = torch.where(s > 0, s, torch.ones_like(s))
    q = torch.round(w.to(torch.float32) / safe.to(torch.float32)).clamp(-qmax, qmax)
    return torch.where(s > 0, q.to(torch.float64) * s, torch.zeros_like(s)).to(torch.float32)


def gptq(w, x, bits, group, act_order, damp=0.01):
    """GPTQ as published, one column at a time (no lazy blocks: they reorder sums only)."""
    W = w.clone().to(torch.float64)
    H = x.T.to(torch.float64) @ x.to(torch.float64)
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
    scales = None
    if group == 0:
        s_row = grid_of(W0, bits)                  # per row, from the starting weights
    elif act_order:                                # static groups, original column order
        scales = torch.stack([grid_of(W0[:, g:g + group], bits) for g in range(0, C, group)], 1)
    for i in range(C):
        c = perm[i].item()
        if group == 0:
            s = s_row
        elif act_order:
            s = scales[:, c // group]
        else:
            if c % group == 0:                     # the group's grid from its updated weights
                cur = grid_of(W[:, i:i + group], bits)
            s = cur
        q = quant(W[:, i], s, bits)
        Q[:, c] = q
        err = (W[:, i] - q.to(torch.float64)) / U[i, i]
        W[:, i + 1:] -= err[:, None] * U[i, i + 1:][None, :]
    return Q


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
        want = gptq(w, x, bits, group, act)
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
