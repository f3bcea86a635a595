#!/usr/bin/python3
"""scripts/qscope_h5.py against h5py: a file written by `qscope profile` (two sites, two
layers, low thresholds so the outlier tables have rows) and three `qscope eval -o` runs, a
second file, and a Lua table whose columns clash with the provenance names. Every DataFrame
is compared cell by cell with the raw structured arrays h5py returns (strings decoded), the
provenance columns with the provenance attributes and with sha256 computed here, the
per-channel frame with the [L, C] matrices row by row; every refusal must name what exists.
Prints "N passed, N failed"; exits non-zero on a failure.
"""
import hashlib
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import pandas as pd

from witness import check, finish

QSCOPE = os.environ.get("QSCOPE", "build/qscope")
ROOT = os.environ.get("QS_ROOT", ".")
MODEL = os.path.join(ROOT, "data/models/stories260K.bin")
TEXT = os.path.join(ROOT, "data/text/tinystories_v2_valid_head100.txt")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import qscope_h5  # noqa: E402

PROV = ["run", "label", "model_sha256", "text_sha256"]
ADDED = set(PROV) | {"table"} | {"prov_" + p for p in PROV}   # columns the reader adds


def qscope(*args):
    p = subprocess.run([QSCOPE, *args], capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    if p.returncode != 0:
        sys.exit(f"qscope {' '.join(args[:2])} failed: {p.stderr[-2000:]}")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def raises(fn, kind, *words):
    """fn() raises kind and the message holds every word."""
    try:
        fn()
    except kind as e:
        msg = str(e)
        return check(all(w in msg for w in words), f"{kind.__name__} message {msg!r} lacks {words}")
    except Exception as e:  # noqa: BLE001
        return check(False, f"expected {kind.__name__} with {words}, got {type(e).__name__}: {e}")
    return check(False, f"expected {kind.__name__} with {words}, nothing raised")


def same_as_h5(df, arr, what):
    """Every column of the structured array is in df, in order, with equal cells."""
    names = list(arr.dtype.names)
    inner = [c for c in df.columns if c not in ADDED]
    check(inner == names, f"{what}: columns {inner} vs {names}")
    check(len(df) == len(arr), f"{what}: {len(df)} rows vs {len(arr)}")
    for c in names:
        raw = arr[c]
        got = df[c].to_numpy()
        if raw.dtype.kind == "S":
            want = [b.decode() for b in raw.tolist()]
            ok = all(isinstance(g, str) for g in got) and list(got) == want
        elif raw.dtype.kind == "f":
            ok = np.array_equal(got.astype(np.float64), raw, equal_nan=True)
        else:
            ok = np.array_equal(got, raw)
        if not check(ok, f"{what}: column {c} differs from h5py"):
            return


def main():
    tmp = tempfile.mkdtemp(prefix="qs_h5reader_")
    f = os.path.join(tmp, "r.h5")
    g = os.path.join(tmp, "g.h5")
    qscope("profile", MODEL, TEXT, "-o", f, "--tokens", "512", "--ctx", "128",
           "--sites", "attn_in,ffn_down_in", "--layers", "0,2", "--tau", "8", "--phi", "0.02",
           "--massive-abs", "2", "--massive-ratio", "15")
    ev = ["eval", MODEL, TEXT, "--max-tokens", "256", "--ctx", "64", "--threads", "1"]
    qscope(*ev, "--config", "W8A8 per-tensor", "--attribute", "sites", "-o", f, "--name", "w8a8")
    qscope(*ev, "--config", "W4A16 g32", "-o", f, "--name", "w8a8")        # same table name
    qscope(*ev, "--config", "W16A6 per-token", "-o", f, "--name", "a6")
    qscope(*ev, "--config", "W8A16 per-channel", "-o", g, "--name", "w8")
    lua = os.path.join(tmp, "clash.lua")
    with open(lua, "w") as fh:
        fh.write('local out <close> = qs.results(param("out", ""), { label = "clash" })\n'
                 'out:append("t/clash", { run = 7, label = "mine", v = 1.5 })\n')
    qscope("run", lua, f"out={g}")

    h = h5py.File(f, "r")
    r = qscope_h5.open(f)

    # runs: one row per run, from the provenance
    runs = r.runs()
    check(list(runs.index) == [1, 2, 3, 4], f"runs {list(runs.index)}")
    check(list(runs["label"]) == ["", "eval", "eval", "eval"], f"labels {list(runs['label'])}")
    check(runs.loc[1, "command"].startswith("qscope profile") and
          runs.loc[2, "command"].startswith("qscope eval"), "command lines")
    check(all(m.endswith("stories260K.bin") for m in runs["model"]), "model paths")
    check(all(t.endswith("tinystories_v2_valid_head100.txt") for t in runs["text"]), "text paths")
    check(set(runs["model_sha256"]) == {sha256(MODEL)}, "model sha256 = hashlib's")
    check(set(runs["text_sha256"]) == {sha256(TEXT)}, "text sha256 = hashlib's")
    check(runs["start_time"].notna().all() and (runs["end_time"] >= runs["start_time"]).all(),
          "start and end times parsed, end >= start")
    check("outliers/channels" in runs.loc[1, "tables"] and "ppl/w8a8" in runs.loc[2, "tables"]
          and "ppl/a6" in runs.loc[4, "tables"], "tables per run")
    check(r.tables(1) == sorted(n for n, o in _walk(h["runs/1"]) if o.dtype.names),
          f"tables(1) = the compound datasets h5py finds: {r.tables(1)}")

    # tables: cells as h5py has them, strings decoded, provenance columns
    for path in ("outliers/tokens", "outliers/channels", "stats/attn_in/tensor", "weights/summary"):
        df = r.table(path, run=1)
        same_as_h5(df, h["runs/1"][path][()], path)
    tok = r.table("outliers/tokens", run=1)
    check(len(tok) > 0 and tok["token_text"].map(type).eq(str).all(), "token_text decoded to str")
    chan = r.table("outliers/channels", run=1)
    check(len(chan) > 0, f"outlier channels found at tau 8 ({len(chan)})")
    p1 = h["runs/1/provenance"].attrs
    check(list(chan.columns[:2]) == ["run", "label"] and
          list(chan.columns[-2:]) == ["model_sha256", "text_sha256"],
          f"column order {list(chan.columns)}")
    check((chan["run"] == 1).all() and (chan["label"] == "").all(), "run and label columns")
    check((chan["model_sha256"] == p1["model_sha256"]).all() and
          (chan["text_sha256"] == p1["text_sha256"]).all(),
          "sha256 columns = provenance attributes")
    types = pd.api.types
    check(types.is_integer_dtype(chan["run"]) and types.is_integer_dtype(chan["channel"])
          and types.is_float_dtype(chan["absmax"]), "numeric dtypes kept")

    # which run: newest holding the table, by number, by label
    newest = r.table("ppl/w8a8")
    check((newest["run"] == 3).all() and list(newest["config"]) == ["W4A16 g32"],
          "run=None: newest run with the table")
    second = r.table("ppl/w8a8", run=2)
    same_as_h5(second, h["runs/2/ppl/w8a8"][()], "ppl/w8a8 run 2")
    check(list(second["scope"]) ==
          ["all", "site:attn_in", "site:attn_o_in", "site:ffn_in", "site:ffn_down_in"],
          f"scope rows {list(second['scope'])}")
    check((r.table("ppl/w8a8", run="eval")["run"] == 3).all(), "run by label: the newest with it")
    check((r.table("ppl/w8a8", run="2")["run"] == 2).all(), "run given as a digit string")
    check(r.table("outliers/channels", run=1).shape == chan.shape, "same table twice, same frame")

    # concat over runs and files
    c = r.concat("ppl/*")
    ppl = ((2, "ppl/w8a8"), (3, "ppl/w8a8"), (4, "ppl/a6"))
    want = sum(len(h[f"runs/{n}/{t}"]) for n, t in ppl)
    check(len(c) == want, f"concat ppl/*: {len(c)} rows, h5py {want}")
    check(list(c.groupby(["run", "table"]).size().items()) ==
          [(ppl[0], 5), (ppl[1], 1), (ppl[2], 1)], "rows per run and table")
    check(c.columns[2] == "table" and c["config"].map(type).eq(str).all(),
          "table column, decoded strings")
    check(np.array_equal(c.loc[c["run"] == 4, "ppl_q"].to_numpy(), h["runs/4/ppl/a6"]["ppl_q"]),
          "ppl_q of run 4")
    only2 = r.concat("ppl/*", runs=[2])
    check(set(only2["run"]) == {2} and len(only2) == 5, "concat restricted to run 2")
    st = r.concat("stats/*/tensor")
    check(sorted(set(st["table"])) == ["stats/attn_in/tensor", "stats/ffn_down_in/tensor"]
          and sorted(set(st["layer"])) == [0, 2], "stats/*/tensor: two sites, layers 0 and 2")
    both = qscope_h5.concat([f, g], "ppl/*")
    check(list(both.columns[:3]) == ["file", "run", "label"],
          f"file column first: {list(both.columns[:3])}")
    check(len(both) == want + 1 and (both["file"] == g).sum() == 1,
          "across files: every row, file named")
    r_g = qscope_h5.open(g)
    check(r_g.concat("ppl/*")["config"].tolist() == ["W8A16 per-channel"], "second file's row")

    # a table whose columns are named like the provenance ones keeps them; provenance gets prov_
    cl = r_g.table("t/clash")
    check(cl.loc[0, "run"] == 7 and cl.loc[0, "label"] == "mine" and cl.loc[0, "prov_run"] == 2
          and cl.loc[0, "prov_label"] == "clash" and cl.loc[0, "v"] == 1.5,
          f"clash columns {cl.to_dict('records')}")

    # per-channel statistics indexed by (layer, channel), profiled layers only
    cs = r.channel_stats("attn_in", run=1)
    grp = h["runs/1/stats/attn_in"]
    mats = [k for k, d in grp.items() if isinstance(d, h5py.Dataset) and d.ndim == 2]
    check(sorted(cs.columns) == sorted(mats) and "absmax" in mats and "kurtosis" in mats,
          f"one column per [L, C] statistic: {list(cs.columns)}")
    check(cs.index.names == ["layer", "channel"] and
          sorted(set(cs.index.get_level_values("layer"))) == [0, 2] and len(cs) == 2 * 64,
          "index (layer, channel), layers 0 and 2 of 64 channels")
    for k in mats:
        m = grp[k][()]
        for layer in (0, 2):
            if not np.array_equal(cs.loc[layer, k].to_numpy(), m[layer], equal_nan=True):
                check(False, f"channel_stats {k} layer {layer} differs from h5py")
                break
        else:
            check(True, k)
    check(not cs.isna().any().any(), "no NaN rows (layers 1, 3, 4 were not profiled)")
    tens = r.table("stats/attn_in/tensor", run=1).set_index("layer")
    check(all(cs.loc[layer, "absmax"].max() == tens.loc[layer, "absmax"] for layer in (0, 2)),
          "a layer's largest channel absmax is that layer's tensor absmax")
    check(cs.attrs["count"] == grp.attrs["count"] == 512 and cs.attrs["site"] == "attn_in"
          and cs.attrs["run"] == 1, f"attrs {cs.attrs}")
    one = r.channel_stats("ffn_down_in", stats=["absmax", "token_fraction"])
    check(list(one.columns) == ["absmax", "token_fraction"] and len(one) == 2 * 172,
          "chosen statistics, ffn_down_in width")
    check(r.attrs("outliers", run=1)["tau"] == 8.0 and r.provenance(2)["run_label"] == "eval",
          "attrs and provenance")

    # refusals name what exists
    NF = qscope_h5.NotFound
    raises(lambda: r.table("ppl/nope"), NF, "ppl/nope", "ppl/w8a8", "outliers/channels")
    raises(lambda: r.table("ppl/a6", run=2), NF, "run 2", "ppl/w8a8")
    raises(lambda: r.table("stats/attn_in/absmax"), NF, "not a table", "stats/attn_in/tensor")
    raises(lambda: r.table("stats", run=1), NF, "is a group", "weights/summary")
    raises(lambda: r.table("ppl/w8a8", run=9), NF, "no run 9", "1, 2, 3, 4")
    raises(lambda: r.table("ppl/w8a8", run="nolabel"), NF, "nolabel", "eval")
    raises(lambda: r.concat("sweeps/*"), NF, "sweeps/*", "ppl/a6")
    raises(lambda: r.channel_stats("ffn_in"), NF, "ffn_in", "attn_in, ffn_down_in")
    raises(lambda: r.channel_stats("attn_in", run=2), NF, "run 2", "sites")
    raises(lambda: r.channel_stats("attn_in", stats=["nope"]), NF, "nope", "absmax")
    raises(lambda: r.attrs("nope", run=1), NF, "nope", "provenance")
    raises(lambda: qscope_h5.concat([f, g], "sweeps/*"), NF, "r.h5", "g.h5")
    raises(lambda: qscope_h5.open(os.path.join(tmp, "none.h5")), FileNotFoundError, "no such file")
    bad = os.path.join(tmp, "bad.h5")
    with open(bad, "w") as fh:
        fh.write("not hdf5\n")
    raises(lambda: qscope_h5.open(bad), OSError, "")
    plain = os.path.join(tmp, "plain.h5")
    with h5py.File(plain, "w") as fh:
        fh["x"] = np.arange(3)
    raises(lambda: qscope_h5.open(plain), NF, "no /runs group")

    # a row the table counts but HDF5 never wrote (kill -9 between the flush of the grown
    # extent and that of the new chunk's index) holds the table's fill value: dropped
    torn = os.path.join(tmp, "torn.h5")
    lua = os.path.join(tmp, "torn.lua")
    with open(lua, "w") as fh:
        fh.write('local out <close> = qs.results(param("out", ""))\n'
                 'out:append("t", { n = 1, s = "a" })\n'
                 'out:append("t", { n = 0, s = "" })\n')
    qscope("run", lua, f"out={torn}")
    with h5py.File(torn, "r+") as fh:
        fh["runs/1/t"].resize((2 + 200,))
    with h5py.File(torn, "r") as fh:
        last = fh["runs/1/t"][-1]
        check(np.isnan(last["n"]) and last["s"] == b"", f"the unwritten row reads as fill: {last}")
    with qscope_h5.open(torn) as rt:
        t = rt.table("t")
        check(list(t["n"]) == [1.0, 0.0] and list(t["s"]) == ["a", ""],
              f"the unwritten rows are dropped, the written ones kept: {t[['n', 's']]}")

    # the command-line listing
    p = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts/qscope_h5.py"), f],
                       capture_output=True, text=True)
    check(p.returncode == 0 and "run 4: ppl/a6" in p.stdout and "qscope profile" in p.stdout,
          f"qscope_h5.py FILE lists the runs: {p.stdout[-500:]} {p.stderr[-500:]}")

    r.close()
    r_g.close()
    h.close()
    for name in os.listdir(tmp):
        os.remove(os.path.join(tmp, name))
    os.rmdir(tmp)
    return finish("test_qscope_h5")


def _walk(group):
    out = []
    group.visititems(lambda n, o: out.append((n, o)) if isinstance(o, h5py.Dataset) else None)
    return out


if __name__ == "__main__":
    sys.exit(main())
