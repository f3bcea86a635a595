#!/usr/bin/python3
"""Outside witness for analysis/: every statistic recomputed in numpy from the raw tensor.

Each unit test executable has a dump mode (`$QS_BUILD/tests/test_X --dump DIR`) that writes
its synthetic tensor and what the C code computed from it as raw little-endian files. This
script recomputes everything independently (no scipy: skewness and kurtosis by hand) and
compares: moments to rtol 1e-9, counts and extremes exactly, percentiles to within one
histogram bin. Prints "N passed, N failed" and exits non-zero on any failure.
"""
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

from witness import check, finish

BUILD = os.environ.get("QS_BUILD", "build")
MAX_REL_ERROR = 1e-9          # moments, double vs numpy
MAX_EDGES_REL_ERROR = 1e-13   # log-spaced bin edges, the same formula

def close(a, b, what, rtol=MAX_REL_ERROR, scale=None):
    """|a - b| <= rtol * max(|b|, scale), elementwise; NaN only matches NaN."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    s = np.abs(b) if scale is None else np.maximum(np.abs(b), scale)
    same_nan = np.isnan(a) == np.isnan(b)
    ok = same_nan.all() and bool(np.all((np.abs(a - b) <= rtol * s) | (np.isnan(a) & np.isnan(b))))
    if not ok:
        i = int(np.argmax(np.abs(a - b) / np.where(s > 0, s, 1))) if a.ndim else 0
        print(f"  {what}: worst at {i}: {a.flat[i]!r} vs {b.flat[i]!r}", file=sys.stderr)
    check(ok, what)


def equal(a, b, what):
    ok = np.array_equal(np.asarray(a), np.asarray(b))
    if not ok:
        print(f"  {what}: {np.asarray(a)[:8]} vs {np.asarray(b)[:8]}", file=sys.stderr)
    check(ok, what)


def meta(d):
    out = {}
    with open(os.path.join(d, "meta.txt")) as f:
        for line in f:
            k, v = line.split()
            out[k] = float(v)
    return out


def load(d, name, dtype):
    return np.fromfile(os.path.join(d, name), dtype=dtype)


def dump(exe, d):
    path = os.path.join(BUILD, "tests", exe)
    r = subprocess.run([path, "--dump", d], capture_output=True, text=True)
    check(r.returncode == 0, f"{exe} --dump exited {r.returncode}: {r.stderr.strip()}")
    return r.returncode == 0


def moments(x, axis=0):
    """population mean, var, skewness (g1), Pearson kurtosis, in float64"""
    x = x.astype(np.float64)
    mean = x.mean(axis=axis)
    d = x - (mean if axis is None else np.expand_dims(mean, axis))
    m2 = (d ** 2).mean(axis=axis)
    m3 = (d ** 3).mean(axis=axis)
    m4 = (d ** 4).mean(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        skew = m3 / m2 ** 1.5
        kurt = m4 / m2 ** 2
    return mean, m2, skew, kurt


def token_ratio(a):
    """r(t,c) = |x| / median_c |x| with the documented zero-median conventions"""
    med = np.median(a, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = a / med[:, None]
    zero = med == 0
    r[zero] = np.where(a[zero] > 0, np.inf, 0.0)
    return r


def witness_chanstats(d):
    m = meta(d)
    W, TW, C = int(m["W"]), int(m["TW"]), int(m["C"])
    x = load(d, "x.f32", np.float32).reshape(W * TW, C).astype(np.float64)
    col = {n: load(d, n + ".f64", np.float64) for n in
           ["mean", "var", "std", "skewness", "kurtosis", "min", "max", "absmax", "mean_abs",
            "mean_sq", "n_outlier_tokens", "n_int8_tokens", "n_windows", "n_outlier_windows"]}
    mean, var, skew, kurt = moments(x)
    std = np.sqrt(var)
    close(col["mean"], mean, "chanstats mean", scale=std)
    close(col["var"], var, "chanstats var")
    close(col["std"], std, "chanstats std")
    close(col["skewness"], skew, "chanstats skewness", scale=1.0)
    close(col["kurtosis"], kurt, "chanstats kurtosis (Pearson)")
    check(bool(np.all(col["kurtosis"] > 1.0)), "chanstats kurtosis is Pearson, not excess")
    equal(col["min"], x.min(axis=0), "chanstats min")
    equal(col["max"], x.max(axis=0), "chanstats max")
    a = np.abs(x)
    equal(col["absmax"], a.max(axis=0), "chanstats absmax")
    close(col["mean_abs"], a.mean(axis=0), "chanstats mean_abs")
    close(col["mean_sq"], (x * x).mean(axis=0), "chanstats mean_sq")
    out = token_ratio(a) >= m["tau"]
    equal(col["n_outlier_tokens"], out.sum(axis=0), "chanstats n_outlier_tokens")
    equal(col["n_int8_tokens"], (a >= m["int8"]).sum(axis=0), "chanstats n_int8_tokens")
    per_win = out.reshape(W, TW, C).sum(axis=1) / TW >= m["phi"]
    equal(col["n_outlier_windows"], per_win.sum(axis=0), "chanstats n_outlier_windows")
    equal(col["n_windows"], np.full(C, W), "chanstats n_windows")
    check(col["n_outlier_tokens"].max() > 0 and col["n_outlier_windows"].max() > 0,
          "chanstats witness data has outliers to count")


def witness_tensorstats(d):
    m = meta(d)
    x = load(d, "x.f32", np.float32).astype(np.float64)
    N = int(m["N"])
    bpd = int(m["bins_per_decade"])
    lo, hi = int(m["log10_min"]), int(m["log10_max"])
    nb = (hi - lo) * bpd
    check(x.size == N, "tensorstats dump size")
    s = load(d, "summary.f64", np.float64)
    count, n_zero, n_under, n_over = s[0:4]
    a = np.abs(x)
    nz = a[a > 0]
    equal(count, N, "tensorstats count")
    equal(n_zero, np.count_nonzero(a == 0), "tensorstats n_zero")
    equal(n_under, np.count_nonzero((a > 0) & (a < 10.0 ** lo)), "tensorstats n_underflow")
    equal(n_over, np.count_nonzero(a >= 10.0 ** hi), "tensorstats n_overflow")
    mean, var, skew, kurt = moments(x, axis=None)
    close(s[4], mean, "tensorstats mean", scale=math.sqrt(var))
    close(s[5], var, "tensorstats var")
    close(s[6], skew, "tensorstats skewness", scale=1.0)
    close(s[7], kurt, "tensorstats kurtosis")
    equal(s[8], x.min(), "tensorstats min")
    equal(s[9], x.max(), "tensorstats max")
    equal(s[10], a.max(), "tensorstats absmax")
    equal(s[11], nz.min(), "tensorstats min_abs_nonzero")
    close(s[12], a.mean(), "tensorstats mean_abs")
    close(s[13], (x * x).mean(), "tensorstats mean_sq")
    edges = load(d, "edges.f64", np.float64)
    counts = load(d, "counts.u64", np.uint64)
    check(edges.size == nb + 1 and counts.size == nb, "tensorstats histogram sizes")
    close(edges, 10.0 ** (lo + np.arange(nb + 1) / bpd), "tensorstats log-spaced edges", rtol=MAX_EDGES_REL_ERROR)
    idx = np.clip(np.searchsorted(edges, nz, side="right") - 1, 0, nb - 1)
    equal(counts, np.bincount(idx, minlength=nb), "tensorstats bin counts")
    # percentiles: within one bin of the exact order statistic (rank ceil(p/100 N)) and of
    # numpy's interpolated percentile
    ps = load(d, "p.f64", np.float64)
    pv = load(d, "pvalue.f64", np.float64)
    srt = np.sort(a)

    def bin_of(v):
        return -10 ** 9 if v == 0 else math.floor((math.log10(v) - lo) * bpd)

    for p, v in zip(ps, pv):
        k = max(1, math.ceil(p / 100 * N))
        for name, exact in (("order statistic", srt[k - 1]), ("np.percentile", np.percentile(a, p))):
            ok = abs(bin_of(v) - bin_of(exact)) <= 1
            if not ok:
                print(f"  p{p}: {v!r} vs {name} {exact!r}", file=sys.stderr)
            check(ok, f"tensorstats p{p:g} within one bin of the {name}")
    equal(pv[-1], a.max(), "tensorstats p100 is absmax")


def witness_tokenscan(d):
    m = meta(d)
    T, C = int(m["T"]), int(m["C"])
    x = load(d, "x.f32", np.float32).reshape(T, C)
    a = np.abs(x)
    arg = a.argmax(axis=1)  # first occurrence, as documented
    equal(load(d, "channel.i32", np.int32), arg, "tokenscan channel")
    equal(load(d, "absmax.f32", np.float32), a.max(axis=1), "tokenscan absmax")
    equal(load(d, "value.f32", np.float32), x[np.arange(T), arg], "tokenscan value")
    equal(load(d, "median.f64", np.float64), np.median(a.astype(np.float64), axis=1),
          "tokenscan median (exact)")


def witness_outliers(d):
    m = meta(d)
    W, TW, C = int(m["W"]), int(m["TW"]), int(m["C"])
    x = load(d, "x.f32", np.float32).reshape(W * TW, C)
    a = np.abs(x).astype(np.float64)
    out = token_ratio(a) >= m["tau"]
    frac = out.sum(axis=0) / (W * TW)
    seq = (out.reshape(W, TW, C).sum(axis=1) / TW >= m["phi"]).sum(axis=0) / W
    chans = np.nonzero(frac >= m["min_token_frac"])[0]
    got = load(d, "chan.i32", np.int32)
    equal(got, chans, "outlier channels")
    vals = load(d, "chan_values.f64", np.float64).reshape(-1, 4)
    if got.size == chans.size and chans.size:
        med = np.median(a.mean(axis=0))
        close(vals[:, 0], a.max(axis=0)[chans], "outlier channel absmax")
        close(vals[:, 1], a.max(axis=0)[chans] / med, "outlier channel ratio_to_median")
        close(vals[:, 2], frac[chans], "outlier channel token_fraction")
        close(vals[:, 3], seq[chans], "outlier channel sequence_fraction")
    amax = a.max(axis=1)
    med = np.median(a, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(med > 0, amax / med, np.where(amax > 0, np.inf, 0.0))
    pos = np.nonzero((amax >= m["massive_abs"]) & (ratio >= m["massive_ratio"]))[0]
    gpos = load(d, "tok_pos.i32", np.int32)
    equal(gpos, pos, "massive token positions")
    if gpos.size == pos.size and pos.size:
        arg = np.abs(x[pos]).argmax(axis=1)
        equal(load(d, "tok_ch.i32", np.int32), arg, "massive token channels")
        tv = load(d, "tok_values.f64", np.float64).reshape(-1, 2)
        equal(tv[:, 0], x[pos, arg].astype(np.float64), "massive token values (signed)")
        close(tv[:, 1], ratio[pos], "massive token ratios")
    check(chans.size > 0 and pos.size > 0, "outlier witness data has planted outliers")


def witness_metrics(d):
    ref = load(d, "ref.f32", np.float32).astype(np.float64)
    rec = load(d, "rec.f32", np.float32).astype(np.float64)
    v = load(d, "metrics.f64", np.float64)
    e = ref - rec
    sx, se = np.sum(ref * ref), np.sum(e * e)
    equal(v[0], ref.size, "metrics n")
    close(v[1], sx, "metrics sum_sq_ref")
    close(v[2], se, "metrics sum_sq_err")
    close(v[3], se / ref.size, "metrics mse")
    close(v[4], 10 * np.log10(sx / se), "metrics sqnr_db")
    equal(v[5], np.abs(e).max(), "metrics max_abs_err")


def main():
    witnesses = [("test_chanstats", witness_chanstats), ("test_tensorstats", witness_tensorstats),
                 ("test_tokenscan", witness_tokenscan), ("test_outliers", witness_outliers),
                 ("test_metrics", witness_metrics)]
    with tempfile.TemporaryDirectory(prefix="qs_analysis_") as tmp:
        for exe, fn in witnesses:
            d = os.path.join(tmp, exe)
            if dump(exe, d):
                fn(d)
    return finish("test_analysis_numpy")


if __name__ == "__main__":
    sys.exit(main())
