#!/usr/bin/python3
"""Outside witness for `qscope profile`: run it with --dump on a small text so the dumps
hold every token the statistics saw, read the raw tensors and the results with h5py, and
recompute every statistic in numpy (no scipy; skewness and kurtosis by hand):
per-channel moments and extremes (rtol 1e-9), outlier-token, int8 and outlier-window counts
(exact, with per-token medians by np.median), the whole-tensor table (moments rtol 1e-9,
percentiles within one histogram bin), the |x| histogram (exact), the persistent-channel
table and the token-wise outlier table (exact sets). Thresholds are lowered so that the
counts and tables are not empty. Prints "N passed, N failed"; exits non-zero on a failure.
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

from witness import check, finish

QSCOPE = os.environ.get("QSCOPE", "build/qscope")
ROOT = os.environ.get("QS_ROOT", ".")
MAX_REL_ERROR = 1e-9             # statistics vs numpy, both in double
MAX_ABS_ERROR = 1e-12            # for statistics near zero
MAX_PERCENTILE_REL_ERROR = 0.024  # one histogram bin (100 per decade: 2.3 %)
MAX_EDGE_ERROR = 1e-24           # the first edge, 1e-10, written in double
TOKENS, CTX = 1024, 256
TAU, PHI, INT8, MABS, MRATIO = 8.0, 0.02, 1.0, 2.0, 15.0
DUMPS = [("attn_in", 1), ("attn_o_in", 0), ("ffn_in", 4), ("ffn_down_in", 2), ("resid", 5)]

def close(a, b, what, rtol=MAX_REL_ERROR, atol=0.0):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ok = a.shape == b.shape and bool(np.all(np.abs(a - b) <= rtol * np.abs(b) + atol))
    if not ok:
        i = np.argmax(np.abs(a - b)) if a.shape == b.shape else 0
        print(f"  {what}: worst {a.flat[i]!r} vs {b.flat[i]!r}", file=sys.stderr)
    check(ok, what)


def moments(x, axis):
    n = x.size if axis is None else x.shape[axis]
    mean = x.mean(axis=axis)
    d = x - (mean if axis is None else np.expand_dims(mean, axis))
    m2, m3, m4 = (d ** 2).sum(axis=axis), (d ** 3).sum(axis=axis), (d ** 4).sum(axis=axis)
    return mean, m2 / n, np.sqrt(m2 / n), np.sqrt(n) * m3 / m2 ** 1.5, n * m4 / m2 ** 2


def main():
    tmp = tempfile.mkdtemp()
    out = os.path.join(tmp, "p.h5")
    cmd = [QSCOPE, "profile", f"{ROOT}/data/models/stories260K.bin",
           f"{ROOT}/data/text/tinystories_v2_valid_head100.txt", "-o", out, "--tokens", str(TOKENS),
           "--ctx", str(CTX), "--tau", str(TAU), "--phi", str(PHI), "--int8", str(INT8),
           "--massive-abs", str(MABS), "--massive-ratio", str(MRATIO), "--json"]
    for s, l in DUMPS:
        cmd += ["--dump", f"{s},{l},{TOKENS}"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    f = h5py.File(out, "r")
    r = f["runs/1"]
    chan_tab = r["outliers/channels"][()]
    tok_tab = r["outliers/tokens"][()]
    edges = None
    n_chan_rows = 0
    for site, layer in DUMPS:
        x32 = r[f"dump/{site}/{layer}"][()]
        check(x32.shape[0] == TOKENS and x32.dtype == np.float32, f"{site} {layer} dump shape")
        x = x32.astype(np.float64)
        T, C = x.shape
        a = np.abs(x)
        st = {k: r[f"stats/{site}/{k}"][layer] for k in r[f"stats/{site}"].keys()
              if isinstance(r[f"stats/{site}/{k}"], h5py.Dataset) and r[f"stats/{site}/{k}"].ndim == 2}
        mean, var, std, skew, kurt = moments(x, 0)
        want = {"mean": mean, "var": var, "std": std, "skewness": skew, "kurtosis": kurt,
                "mean_abs": a.mean(0), "mean_sq": (x * x).mean(0)}
        for k, v in want.items():
            close(st[k], v, f"{site} L{layer} {k}", atol=MAX_ABS_ERROR)
        for k, v in {"min": x.min(0), "max": x.max(0), "absmax": a.max(0)}.items():
            check(np.array_equal(st[k], v), f"{site} L{layer} {k} exact")
        # outlier tokens: r(t,c) = |x| / median_c |x|, zero-median convention
        med = np.median(a, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            rr = np.where(med[:, None] > 0, a / med[:, None], np.where(a > 0, np.inf, 0.0))
        out_tc = rr >= TAU
        check(np.array_equal(st["n_outlier_tokens"], out_tc.sum(0)), f"{site} L{layer} n_outlier_tokens")
        check(np.array_equal(st["n_int8_tokens"], (a >= INT8).sum(0)), f"{site} L{layer} n_int8_tokens")
        per_win = out_tc.reshape(TOKENS // CTX, CTX, C).mean(axis=1) >= PHI
        check(np.array_equal(st["n_outlier_windows"], per_win.sum(0)), f"{site} L{layer} n_outlier_windows")
        close(st["token_fraction"], out_tc.sum(0) / T, f"{site} L{layer} token_fraction")
        close(st["sequence_fraction"], per_win.mean(0), f"{site} L{layer} sequence_fraction")
        check(int(st["n_outlier_tokens"].sum()) > 0, f"{site} L{layer} some outlier tokens (test is live)")

        # whole tensor
        row = [t for t in r[f"stats/{site}/tensor"][()] if t["layer"] == layer][0]
        tm, tv, ts, tsk, tk = moments(x.ravel(), None)
        close([row["mean"], row["var"], row["std"], row["skewness"], row["kurtosis"],
               row["mean_abs"], row["mean_sq"]],
              [tm, tv, ts, tsk, tk, a.mean(), (x * x).mean()], f"{site} L{layer} tensor moments", atol=MAX_ABS_ERROR)
        check(row["count"] == x.size and row["n_zero"] == int((a == 0).sum()), f"{site} L{layer} counts")
        check(row["min"] == x.min() and row["max"] == x.max() and row["absmax"] == a.max(), f"{site} L{layer} tensor extremes")
        edges = r[f"stats/{site}/hist/edges"][()]
        nz = a.ravel()[a.ravel() > 0]
        idx = np.clip(np.searchsorted(edges, nz, side="right") - 1, 0, len(edges) - 2)
        hist = np.bincount(idx, minlength=len(edges) - 1)
        check(np.array_equal(r[f"stats/{site}/hist/counts"][layer], hist), f"{site} L{layer} histogram")
        srt = np.sort(a.ravel())
        for p, col in [(50, "p50"), (90, "p90"), (99, "p99"), (99.9, "p999"), (99.99, "p9999")]:
            k = max(int(np.ceil(p / 100 * srt.size)) - 1, 0)  # the order statistic at rank p/100·N
            exact = srt[k]
            check(abs(row[col] - exact) <= MAX_PERCENTILE_REL_ERROR * exact, f"{site} L{layer} {col}: {row[col]} vs {exact}")

        # persistent channels: token_fraction >= phi; ratio = absmax / median mean|x|
        frac = out_tc.sum(0) / T
        want_ch = np.nonzero(frac >= PHI)[0]
        rows = [t for t in chan_tab if t["site"].decode() == site and t["layer"] == layer]
        check(sorted(int(t["channel"]) for t in rows) == list(want_ch), f"{site} L{layer} outlier channel set")
        medabs = np.median(a.mean(0))
        for t in rows:
            c = int(t["channel"])
            close([t["absmax"], t["ratio_to_median"], t["token_fraction"], t["sequence_fraction"]],
                  [a[:, c].max(), a[:, c].max() / medabs, frac[c], per_win[:, c].mean()],
                  f"{site} L{layer} c{c} channel row")
        n_chan_rows += len(rows)

        # token-wise outliers: max|x| >= A and >= R x median
        amax = a.max(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(med > 0, amax / med, np.where(amax > 0, np.inf, 0.0))
        hits = np.nonzero((amax >= MABS) & (ratio >= MRATIO))[0]
        want_tok = sorted((int(t // CTX), int(t % CTX), int(np.argmax(a[t])), float(x32[t, np.argmax(a[t])]))
                          for t in hits)
        got = sorted((int(t["window"]), int(t["position"]), int(t["channel"]), float(np.float32(t["value"])))
                     for t in tok_tab if t["site"].decode() == site and t["layer"] == layer)
        check(got == want_tok, f"{site} L{layer} token outliers ({len(got)} vs {len(want_tok)})")
        trows = [t for t in tok_tab if t["site"].decode() == site and t["layer"] == layer]
        if trows:
            close([t["ratio"] for t in trows],
                  [ratio[int(t["window"]) * CTX + int(t["position"])] for t in trows], f"{site} L{layer} token ratios")
    check(n_chan_rows > 10, "some outlier channels at the dumped pairs (test is live)")
    check(sum(1 for t in tok_tab) > 0, "some token outliers (test is live)")
    check(edges is not None and abs(edges[0] - 1e-10) < MAX_EDGE_ERROR and len(edges) == 2001, "edges")
    return finish("test_profile_numpy")


if __name__ == "__main__":
    sys.exit(main())
