#!/usr/bin/python3
"""Outside witness for the floating-point formats (core/quant/quant_float.c): numpy re-derives
qscope's fake-quantization from the definitions in core/quant/quant.h with a different
algorithm: each element type's values are listed from its bit fields (sign, E exponent bits
with bias 2^(E-1)-1, M mantissa bits, subnormals; E4M3's S.1111.111 and E5M2's exponent 11111
are not values), and a value is rounded by looking up the nearest listed value (a tie goes
to the even code), saturating at the largest. Scales: fp8_* t / max normal in fp16, mxfp*
the MX spec's 2^(floor(log2 t) - emax), nvfp4 an E4M3 block scale under A / (448*6).

test_quant_float --dump writes the input and qscope's outputs for every format and
granularity; values, codes, scales and saturation counts must agree exactly.

Where the installed torch has float8 dtypes (torch >= 2.1; Debian bookworm's 1.13 does not),
the E4M3 and E5M2 element roundings are also checked against torch's casts."""
import os
import subprocess
import sys
import tempfile

import numpy as np

f32 = np.float32

# name: (ebits, mbits, emax of the largest normal)
ELEMS = {"e4m3": (4, 3, 8), "e5m2": (5, 2, 15), "e3m2": (3, 2, 4), "e2m3": (2, 3, 2),
         "e2m1": (2, 1, 2)}
SCHEMES = {"fp8_e4m3": "e4m3", "fp8_e5m2": "e5m2", "mxfp8": "e4m3", "mxfp8_e5m2": "e5m2",
           "mxfp6_e3m2": "e3m2", "mxfp6_e2m3": "e2m3", "mxfp4": "e2m1", "nvfp4": "e2m1"}


def table(elem):
    """Non-negative values of the element type, by code (finite codes only), and the codes."""
    e, m, _ = ELEMS[elem]
    bias = 2 ** (e - 1) - 1
    vals, codes = [], []
    for code in range(2 ** (e + m)):
        ef, mf = code >> m, code & (2 ** m - 1)
        if elem == "e4m3" and ef == 15 and mf == 7:
            continue
        if elem == "e5m2" and ef == 31:
            continue
        v = mf * 2.0 ** (1 - bias - m) if ef == 0 else (1 + mf / 2 ** m) * 2.0 ** (ef - bias)
        vals.append(v)
        codes.append(code)
    return np.array(vals), np.array(codes)


TABLES = {k: table(k) for k in ELEMS}


def round_elem(elem, v):
    """v (float32 array) -> (rounded values as float32 with the sign kept, codes, saturated)."""
    vals, codes = TABLES[elem]
    a = np.abs(v.astype(np.float64))
    i = np.clip(np.searchsorted(vals, a), 1, len(vals) - 1)
    lo, hi = vals[i - 1], vals[i]
    pick_hi = (a - lo > hi - a) | ((a - lo == hi - a) & (codes[i] % 2 == 0))
    j = np.where(pick_hi, i, i - 1)
    # beyond the largest value the grid goes on one quantum up (top + q): a value rounds
    # there, and saturates, past the midpoint, or at it when top's code is odd
    top, q = vals[-1], vals[-1] - vals[-2]
    sat = (a > top + q / 2) | ((a == top + q / 2) & (codes[-1] % 2 == 1))
    j = np.where(a >= top, len(vals) - 1, j)
    r = vals[j]
    sign = np.signbit(v)
    e_bits, m_bits, _ = ELEMS[elem]
    code = codes[j] | (sign.astype(np.int64) << (e_bits + m_bits))
    return np.where(sign, -r, r).astype(f32), code, int(sat.sum())


def fp16(s):
    return np.asarray(s, dtype=f32).astype(np.float16).astype(f32)


def group_slices(R, C, gran, G):
    if gran == "tensor":
        return [(slice(0, R), slice(0, C))]
    if gran == "row":
        return [(slice(r, r + 1), slice(0, C)) for r in range(R)]
    if gran == "col":
        return [(slice(0, R), slice(c, c + 1)) for c in range(C)]
    return [(slice(r, r + 1), slice(c0, min(c0 + G, C))) for r in range(R)
            for c0 in range(0, C, G)]


def scale(scheme, elem, t, A):
    t = f32(t)
    if t == 0:
        return f32(0)
    vals, _ = TABLES[elem]
    if scheme.startswith("fp8"):
        return fp16(t / f32(vals[-1]))[()]
    if scheme.startswith("mx"):
        _, k = np.frexp(t)
        return f32(2.0 ** max(int(k) - 1 - ELEMS[elem][2], -127))
    gs = f32(f32(A) / f32(448.0 * 6.0))
    b, _, _ = round_elem("e4m3", np.array([f32(f32(t / f32(6)) / gs)], dtype=f32))
    return f32(b[0] * gs)


def check_case(d, R, C, x, line):
    name, scheme, gran, G, clipped = line.split()
    G, clipped = int(G), int(clipped)
    elem = SCHEMES[scheme]
    y = np.fromfile(os.path.join(d, name + ".y.f32"), dtype=f32).reshape(R, C)
    q = np.fromfile(os.path.join(d, name + ".q.i16"), dtype=np.int16).reshape(R, C)
    s = np.fromfile(os.path.join(d, name + ".s.f32"), dtype=f32)
    A = np.abs(x).max()
    ey = np.zeros_like(x)
    eq = np.zeros((R, C), dtype=np.int64)
    es, sat = [], 0
    for rs, cs in group_slices(R, C, gran, G):
        g = x[rs, cs]
        sc = scale(scheme, elem, np.abs(g).max(), A)
        es.append(sc)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = (g / sc).astype(f32) if sc != 0 else np.copysign(np.zeros_like(g), g)
        r, code, n = round_elem(elem, v)
        ey[rs, cs] = (r * sc).astype(f32)
        eq[rs, cs] = code
        sat += n
    bad = []
    if not np.array_equal(np.array(es, dtype=f32).view(np.uint32), s.view(np.uint32)):
        bad.append("scales")
    if not np.array_equal(ey.view(np.uint32), y.view(np.uint32)):
        k = np.argmax(ey.view(np.uint32) != y.view(np.uint32))
        bad.append(f"values (first at {k}: {x.flat[k]!r} -> numpy {ey.flat[k]!r}, "
                   f"qscope {y.flat[k]!r})")
    if not np.array_equal(eq, q.astype(np.int64) & ((1 << (1 + sum(ELEMS[elem][:2]))) - 1)):
        bad.append("codes")
    if sat != clipped:
        bad.append(f"saturated {clipped} vs numpy {sat}")
    return name, bad


def torch_check():
    try:
        import torch
    except ImportError:
        return "torch missing"
    if not hasattr(torch, "float8_e4m3fn"):
        return f"torch {torch.__version__} has no float8 dtypes"
    rng = np.random.default_rng(1)
    bad = 0
    for elem, dt in (("e4m3", torch.float8_e4m3fn), ("e5m2", torch.float8_e5m2)):
        top = TABLES[elem][0][-1]
        v = (rng.standard_normal(200000) * np.exp2(rng.integers(-20, 12, 200000))).astype(f32)
        v = v[np.abs(v) <= top]          # torch's casts do not saturate
        r, _, _ = round_elem(elem, v)
        t = torch.from_numpy(v).to(dt).to(torch.float32).numpy()
        bad += int(np.sum(t.view(np.uint32) != r.view(np.uint32)))
    if bad:
        print(f"FAIL: {bad} values round differently from torch's float8 casts")
        return None
    return "torch float8 casts agree"


def main():
    exe = os.path.join(os.environ.get("QS_BUILD", "build"), "tests", "test_quant_float")
    if not os.path.exists(exe):
        exe = os.path.join(os.environ.get("QS_BUILD", "build"), "test_quant_float")
    failed = 0
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([exe, "--dump", d], check=True)
        R, C = map(int, open(os.path.join(d, "shape.txt")).read().split())
        x = np.fromfile(os.path.join(d, "x.f32"), dtype=f32).reshape(R, C)
        lines = open(os.path.join(d, "cases.txt")).read().splitlines()
        for line in lines:
            name, bad = check_case(d, R, C, x, line)
            if bad:
                failed += 1
                print(f"FAIL {name}: {'; '.join(bad)}")
    # the table rounding itself against the spec's extremes
    for elem, top in (("e4m3", 448), ("e5m2", 57344), ("e3m2", 28), ("e2m3", 7.5), ("e2m1", 6)):
        if TABLES[elem][0][-1] != top:
            failed += 1
            print(f"FAIL {elem}: largest value {TABLES[elem][0][-1]}")
    note = torch_check()
    if note is None:
        failed += 1
    print(f"test_quant_formats_numpy: {len(lines) - failed} passed, {failed} failed"
          f" ({note})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
