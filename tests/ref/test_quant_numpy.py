#!/usr/bin/python3
"""Outside witness for the quantizers: numpy re-derives qs_quant_fake from the definitions in
core/quant.h (fp16 scales via np.float16, rint, linear-interpolated percentiles, the mse
ratio grid) and checks the C results, which test_quant_fake writes with --dump.

absmax and percentile must agree exactly (values, codes, scales, zero-points, ranges,
clip counts). For mse the C search refines the grid with Brent, so numpy checks that the
chosen range is a ratio of the absmax range in [0.29, 1], that the outputs are exactly the
fake-quantization with that range, and that its error is no worse than numpy's grid best."""
import os
import subprocess
import sys
import tempfile

import numpy as np

f32 = np.float32
FP16_MAX = f32(65504.0)
MIN_CLIP_RATIO = 0.289     # the clip search's lowest ratio, 0.29, less rounding
MAX_RATIO_ERROR = 1e-7     # the clip ratio r, float32 ranges divided
MAX_TIE_REL_ERROR = 1e-9   # an MSE equal to numpy's best, summed in another order
MAX_TIE_ABS_ERROR = 1e-30  # for an exact (zero-error) group


def store_scale(s, fp32):
    s = np.asarray(s, dtype=np.float32)
    if fp32:
        return np.minimum(s, np.finfo(np.float32).max)
    with np.errstate(over="ignore"):
        h = s.astype(np.float16).astype(np.float32)
    return np.where(np.isinf(h), FP16_MAX, h)


def grid(lo, hi, bits, affine, fp32):
    """Vectorised over ranges: returns scale, zero, qlo, qhi arrays."""
    lo = np.asarray(lo, dtype=np.float32)
    hi = np.asarray(hi, dtype=np.float32)
    if not affine:
        qmax = 2 ** (bits - 1) - 1
        t = np.maximum(-lo, hi)
        s = store_scale(t / f32(qmax), fp32)
        z = np.zeros_like(s, dtype=np.int64)
        return s, z, np.full_like(s, -qmax), np.full_like(s, qmax)
    qmax = 2 ** bits - 1
    lo = np.minimum(lo, f32(0))
    hi = np.maximum(hi, f32(0))
    with np.errstate(over="ignore"):
        s = store_scale((hi - lo) / f32(qmax), fp32)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, np.clip(np.rint(-lo / np.where(s > 0, s, f32(1))), 0, qmax), 0)
    z = z.astype(np.int64)
    return s, z, (-z).astype(np.float32), (qmax - z).astype(np.float32)


def fake(x, s, z, qlo, qhi):
    """x (..., n) with per-row scalars (...,): values, codes, clipped count."""
    s = np.asarray(s, dtype=np.float32)[..., None]
    safe = np.where(s != 0, s, f32(1))
    r = np.rint(x / safe)
    clipped = np.sum(((r < qlo[..., None]) | (r > qhi[..., None])) & (s != 0), axis=-1)
    r = np.clip(r, qlo[..., None], qhi[..., None])
    r = np.where(s != 0, r, f32(0)) + f32(0)   # integer codes: no -0
    y = (r * s).astype(np.float32)
    y = np.where(s != 0, y, f32(0))
    return y, (r + z[..., None]).astype(np.int64), clipped


def absmax_range(v, affine):
    if affine:
        return min(float(v.min()), 0.0), max(float(v.max()), 0.0)
    t = float(np.abs(v).max())
    return -t, t


def percentile_range(v, affine, p):
    if affine:
        v64 = v.astype(np.float64)
        lo = f32(np.percentile(v64, 100.0 - p))
        hi = f32(np.percentile(v64, p))
        return min(lo, f32(0)), max(hi, f32(0))
    t = f32(np.percentile(np.abs(v).astype(np.float64), p))
    return -t, t


def groups(rows, cols, gran, G):
    """(index arrays) of each scale group in the C order."""
    idx = np.arange(rows * cols).reshape(rows, cols)
    if gran == 0:
        return [idx.ravel()]
    if gran == 1:
        return [idx[r] for r in range(rows)]
    if gran == 2:
        return [idx[:, c] for c in range(cols)]
    return [idx[r, j:j + G] for r in range(rows) for j in range(0, cols, G)]


def check_case(d, line):
    (i, rows, cols, bits, sch, gran, G, p, fc, N, nclip) = line.split()
    i, rows, cols, bits, sch, gran, G, fc, N, nclip = map(int, (i, rows, cols, bits, sch, gran, G, fc, N, nclip))
    p = float(p)
    fp32, clip = fc // 100, fc % 100
    affine = sch == 1
    load = lambda what, dt: np.fromfile(os.path.join(d, f"case{i:03d}_{what}.bin"), dtype=dt)
    x = load("x", np.float32)
    y, codes = load("y", np.float32), load("codes", np.int16)
    scales, zeros, ranges = load("scales", np.float32), load("zeros", np.int32), load("ranges", np.float32).reshape(-1, 2)
    gs = groups(rows, cols, gran, G)
    name = f"case {i}: ({rows},{cols}) b{bits} {'affine' if affine else 'symmetric'} gran {gran} G {G} clip {clip} fp32 {fp32}"
    errors = []
    if len(gs) != N or len(scales) != N:
        return [f"{name}: {N} scales, numpy expects {len(gs)}"]
    total_clipped = 0
    for g, ix in enumerate(gs):
        v = x[ix]
        if clip == 0:
            lo, hi = absmax_range(v, affine)
        elif clip == 2:
            lo, hi = percentile_range(v, affine, p)
        else:
            lo, hi = ranges[g]
            alo, ahi = absmax_range(v, affine)
            # the C range is r·(absmax range) for one r in [0.29, 1]
            r = hi / ahi if ahi != 0 else (lo / alo if alo != 0 else 1.0)
            if not (MIN_CLIP_RATIO <= r <= 1.0 + MAX_RATIO_ERROR):
                errors.append(f"{name}: group {g}: mse ratio {r}")
            # numpy's grid best
            ks = np.arange(100, 29, -1) / 100.0
            glo = (ks * np.float64(alo)).astype(np.float32)
            ghi = (ks * np.float64(ahi)).astype(np.float32)
            s, z, ql, qh = grid(glo, ghi, bits, affine, fp32)
            yy, _, _ = fake(np.broadcast_to(v, (len(ks), len(v))), s, z, ql, qh)
            sse = np.sum(((yy - v).astype(np.float64)) ** 2, axis=1)
            s1, z1, ql1, qh1 = grid([lo], [hi], bits, affine, fp32)
            y1, _, _ = fake(v[None, :], s1, z1, ql1, qh1)
            sse_c = float(np.sum(((y1[0] - v).astype(np.float64)) ** 2))
            if sse_c > sse.min() * (1 + MAX_TIE_REL_ERROR) + MAX_TIE_ABS_ERROR:
                errors.append(f"{name}: group {g}: mse error {sse_c} above numpy grid best {sse.min()}")
        lo, hi = f32(lo), f32(hi)
        if ranges[g, 0] != lo or ranges[g, 1] != hi:
            errors.append(f"{name}: group {g}: range C {ranges[g].tolist()} numpy {[float(lo), float(hi)]}")
            continue
        s, z, ql, qh = grid([lo], [hi], bits, affine, fp32)
        if scales[g] != s[0] or zeros[g] != z[0]:
            errors.append(f"{name}: group {g}: scale/zero C {scales[g]!r}/{zeros[g]} numpy {s[0]!r}/{z[0]}")
            continue
        yy, cc, nc = fake(v[None, :], s, z, ql, qh)
        total_clipped += int(nc[0])
        if not np.array_equal(yy[0].view(np.uint32), y[ix].view(np.uint32)):
            bad = np.nonzero(yy[0] != y[ix])[0]
            errors.append(f"{name}: group {g}: {len(bad)} values differ, first C {y[ix][bad[:1]]} numpy {yy[0][bad[:1]]}")
        if not np.array_equal(cc[0], codes[ix].astype(np.int64)):
            errors.append(f"{name}: group {g}: codes differ")
        if len(errors) > 5:
            break
    if not errors and total_clipped != nclip:
        errors.append(f"{name}: clipped C {nclip} numpy {total_clipped}")
    return errors


def main():
    build = os.environ.get("QS_BUILD", "build")
    exe = os.path.join(build, "tests", "test_quant_fake")
    if not os.path.exists(exe):
        print(f"FAIL: {exe} not found (build first)")
        return 1
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([exe, "--dump", d], check=True)
        lines = open(os.path.join(d, "cases.txt")).read().splitlines()
        errors, counts = [], {}
        for line in lines:
            e = check_case(d, line)
            errors += e
            fc = int(line.split()[8])
            counts[fc % 100] = counts.get(fc % 100, 0) + 1
    for e in errors[:20]:
        print("FAIL", e)
    print(f"test_quant_numpy: {len(lines)} cases (absmax {counts.get(0, 0)}, mse {counts.get(1, 0)}, "
          f"percentile {counts.get(2, 0)}), {len(errors)} failures")
    if len(lines) < 100:
        print("FAIL: too few cases dumped")
        return 1
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
