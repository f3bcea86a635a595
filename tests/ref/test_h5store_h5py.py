"""h5py as the outside witness of the HDF5 result store.

The C test program writes a sample results file (`test_h5store --write PATH`, two runs);
h5py reads it back without any qscope code: run groups, provenance attributes and hashes
(recomputed here with hashlib), model attributes, matrices and their shapes, tables as numpy
structured arrays with the documented fields and dtypes, the gzip dump. It also checks that a
second writer appends runs 3 and 4 without touching 1 and 2, that a non-HDF5 file is refused
unchanged, and that rows appended before a failing write (RLIMIT_FSIZE) are all readable.
"""
import hashlib
import math
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np

from witness import check, failures, finish

ROOT = os.environ.get("QS_ROOT", os.getcwd())
BUILD = os.environ.get("QS_BUILD", os.path.join(ROOT, "build"))
EXE = os.path.join(BUILD, "tests", "test_h5store")

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def sha256_dir_manifest(path):
    # documented in h5store.h: "<sha256>  <name>\n" per regular file, sorted by name bytes
    names = sorted(n for n in os.listdir(path)
                   if not n.startswith(".") and os.path.isfile(os.path.join(path, n)))
    man = "".join("%s  %s\n" % (sha256_file(os.path.join(path, n)), n) for n in names)
    return hashlib.sha256(man.encode()).hexdigest()


def as_str(v):
    return v.decode() if isinstance(v, bytes) else str(v)


MAX_EDGES_ERROR = 1e-15  # edges written from -1 + 0.2·i in double
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

# dtype kinds per documented column type
I8, F8 = np.dtype("<i8"), np.dtype("<f8")


def check_table(ds, cols, name):
    """cols: list of (name, dtype). The structured dtype must be exactly these fields,
    packed, each a plain scalar field (what pandas.DataFrame(arr) needs)."""
    arr = ds[()]
    check(isinstance(arr, np.ndarray) and arr.ndim == 1, name + ": 1-D array")
    dt = arr.dtype
    check(dt.names == tuple(c for c, _ in cols), "%s: names %s" % (name, dt.names))
    for c, want in cols:
        if c in dt.names:
            got = dt.fields[c][0]
            check(got == want, "%s.%s: dtype %s, want %s" % (name, c, got, want))
            check(got.shape == () and got.kind in "ifS", "%s.%s: plain scalar" % (name, c))
    check(dt.itemsize == sum(np.dtype(t).itemsize for _, t in cols), name + ": packed rows")
    check(ds.maxshape == (None,), name + ": unlimited rows")
    check(ds.chunks is not None, name + ": chunked")
    try:
        import pandas  # not in Debian's base set; checked when present

        df = pandas.DataFrame(arr)
        check(list(df.columns) == [c for c, _ in cols], name + ": pandas columns")
    except ImportError:
        pass
    return arr


def main():
    if not os.path.exists(EXE):
        print("missing %s (build first)" % EXE, file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="qs_h5py_")
    path = os.path.join(tmp, "sample.h5")
    r = subprocess.run([EXE, "--write", path], capture_output=True, text=True)
    check(r.returncode == 0, "--write exit %d: %s" % (r.returncode, r.stderr))
    if r.returncode != 0:
        return finish("test_h5store_h5py")

    with h5py.File(path, "r") as f:
        check(sorted(f.keys()) == ["runs"], "top level is /runs only")
        runs = f["runs"]
        check(sorted(runs.keys(), key=int) == ["1", "2"], "runs 1 and 2: %s" % list(runs.keys()))
        check(int(runs.attrs["latest"]) == 2, "latest = 2")
        check(as_str(runs["1"].attrs["run_label"]) == "sample-1", "run 1 label")
        check(as_str(runs["2"].attrs["run_label"]) == "sample-2", "run 2 label")

        # provenance
        p = runs["1/provenance"].attrs
        for key in ["qscope_version", "git_rev", "start_time", "end_time", "hdf5_version",
                    "gsl_version", "lua_version", "openblas_config", "command_line",
                    "script_path", "script_sha256", "model_path", "model_sha256", "text_path",
                    "text_sha256", "params", "param_list", "seed", "threads"]:
            check(key in p, "provenance attr %s" % key)
        check(isinstance(p.get("qscope_version"), str), "string attrs read as str")
        check(ISO.match(as_str(p.get("start_time", ""))) is not None, "start_time ISO-8601 UTC")
        check(ISO.match(as_str(p.get("end_time", ""))) is not None, "end_time ISO-8601 UTC")
        check(as_str(p.get("end_time", "")) >= as_str(p.get("start_time", "~")), "end >= start")
        check(as_str(p.get("hdf5_version")) == h5py.version.hdf5_version, "hdf5 version")
        check(as_str(p.get("lua_version", "")).startswith("Lua 5."), "lua version")
        check("OpenBLAS" in as_str(p.get("openblas_config", "")), "openblas config")
        model = os.path.join(ROOT, "data/models/stories260K.bin")
        text = os.path.join(ROOT, "data/text/tinystories_v2_valid_head100.txt")
        script = os.path.join(ROOT, "tests/unit/check.h")
        check(as_str(p.get("model_sha256")) == sha256_file(model), "model sha256")
        check(as_str(p.get("model_sha256_kind")) == "file", "model sha256 kind")
        check(as_str(p.get("text_sha256")) == sha256_file(text), "text sha256")
        check(as_str(p.get("script_sha256")) == sha256_file(script), "script sha256")
        check(as_str(p.get("params")) == "bits=4; group=128", "params")
        check([as_str(x) for x in p.get("param_list", [])] == ["bits=4", "group=128"],
              "param_list")
        check(int(p.get("seed", -1)) == 42 and int(p.get("threads", -1)) == 2, "seed, threads")
        p2 = runs["2/provenance"].attrs
        hf = os.path.join(ROOT, "tests/fixtures/hf-stories260K")
        check(as_str(p2.get("model_sha256_kind")) == "dir-manifest", "dir model kind")
        check(as_str(p2.get("model_sha256")) == sha256_dir_manifest(hf), "dir manifest sha256")
        check("seed" not in p2 and "text_sha256" not in p2, "unset fields are not written")

        # model attributes
        m = runs["1/model"].attrs
        check(as_str(m["name"]) == "stories260K", "model name")
        check(isinstance(m["dim"], np.integer) and m["dim"] == 64, "model dim int64")
        check(m["dim"].dtype == np.int64, "int attrs are int64")
        check(m["norm_eps"] == 1e-5 and m["norm_eps"].dtype == np.float64, "norm_eps")
        check(np.array_equal(m["freqs"], [1.0, 0.5, 0.25]), "freqs array")

        # statistics [L, C]
        L, C = 5, 64
        l, c = np.meshgrid(np.arange(L), np.arange(C), indexing="ij")
        a = runs["1/stats/attn_in/absmax"]
        check(a.shape == (L, C) and a.dtype == np.float64, "absmax [L, C] float64")
        check(np.array_equal(a[()], l * 1000.0 + c + 0.25), "absmax values")
        mn = runs["1/stats/attn_in/mean"]
        check(mn.shape == (L, C) and mn.dtype == np.float32, "mean [L, C] float32")
        check(np.array_equal(mn[()], ((l - c) * 0.5).astype(np.float32)), "mean values")
        hc = runs["1/stats/attn_in/hist/counts"]
        check(hc.shape == (L, 10) and hc.dtype == np.int64, "hist counts")
        check(np.array_equal(hc[()].ravel(), np.arange(L * 10) ** 2), "hist count values")
        check(np.allclose(runs["1/stats/attn_in/hist/edges"][()], -1 + 0.2 * np.arange(11),
                          rtol=0, atol=MAX_EDGES_ERROR), "hist edges")
        w = runs["1/weights/blk.0.wq"]
        check(w.shape == (8, 8) and w.dtype == np.float32, "weights shape")
        check(np.array_equal(w[()].ravel(), np.arange(64, dtype=np.float32) / 64), "weights")
        k2 = runs["2/stats/ffn_down_in/kurtosis"]
        check(k2.shape == (L, C) and np.array_equal(k2[()], l * 1000.0 + c + 0.25), "run 2 stats")

        # tables
        ch = check_table(runs["1/outliers/channels"], [
            ("layer", I8), ("site", "S16"), ("channel", I8), ("absmax", F8),
            ("ratio_to_median", F8), ("token_fraction", F8), ("sequence_fraction", F8)],
            "outliers/channels")
        check(len(ch) == 3 and list(ch["layer"]) == [0, 1, 2], "channels rows")
        check(list(ch["site"]) == [b"ffn_down_in"] * 3, "channels site")
        check(list(ch["channel"]) == [10, 11, 12] and list(ch["absmax"]) == [100.5, 101.5, 102.5],
              "channels values")
        check(list(ch["ratio_to_median"]) == [20.0, 40.0, 60.0], "channels ratio")
        tk = check_table(runs["1/outliers/tokens"], [
            ("layer", I8), ("site", "S16"), ("sequence", I8), ("position", I8),
            ("token_id", I8), ("token_text", "S8"), ("channel", I8), ("value", F8),
            ("ratio", F8)], "outliers/tokens")
        check(len(tk) == 2 and list(tk["token_id"]) == [400, 401], "tokens rows")
        check(tk["token_text"][0].decode("utf-8") == " Once", "token text")
        # " café €" is 10 bytes; cut to 8 the euro sign would split, so 7 bytes remain
        check(tk["token_text"][1] == " caf\u00e9 ".encode("utf-8"), "utf-8 cut %r" % tk["token_text"][1])
        check(tk["token_text"][1].decode("utf-8") == " caf\u00e9 ", "cut string decodes")
        check(tk["ratio"][0] == 33.0 and math.isnan(tk["ratio"][1]), "unset float is NaN")
        check(list(tk["value"]) == [-12.5, -25.0], "token values")
        sw = check_table(runs["1/sweeps/weights"], [
            ("target", "S8"), ("tensor", "S32"), ("layer", I8), ("bits", I8), ("scheme", "S10"),
            ("granularity", "S8"), ("group", I8), ("clip", "S12"), ("clip_value", F8),
            ("mse", F8), ("sqnr_db", F8), ("max_err", F8), ("bits_per_value", F8)],
            "sweeps/weights")
        check(list(sw["bits"]) == [8, 6, 4, 3], "sweep bits")
        check(np.array_equal(sw["mse"], [2.0 ** (-2 * b) for b in (8, 6, 4, 3)]), "sweep mse")
        check(list(sw["scheme"]) == [b"symmetric"] * 4, "sweep scheme")
        pcols = [("weight_config", "S24"), ("act_config", "S24"), ("ppl", F8),
                 ("ppl_stderr", F8), ("nll", F8), ("kld", F8), ("top1_agree", F8),
                 ("tokens", I8)]
        pp1 = check_table(runs["1/ppl/weights"], pcols, "run 1 ppl/weights")
        check(len(pp1) == 1 and pp1["weight_config"][0] == b"W4A16 g128", "ppl row")
        check(pp1["nll"][0] == math.log(3.75) and pp1["tokens"][0] == 16384, "ppl values")
        pp2 = check_table(runs["2/ppl/weights"], pcols, "run 2 ppl/weights")
        check(list(pp2["weight_config"]) == [b"W4A16 g128", b"W8A8 per-token"], "run 2 rows")
        check(list(pp2["ppl"]) == [3.75, 3.5], "run 2 ppl")

        # the dump: extendable, chunked, gzip + shuffle
        d = runs["1/dump/attn_in/0"]
        check(d.shape == (37, C) and d.dtype == np.float32, "dump shape %s" % (d.shape,))
        check(d.maxshape == (None, C), "dump maxshape")
        check(d.chunks == (16, C), "dump chunks")
        check(d.compression == "gzip" and d.compression_opts == 4 and d.shuffle, "dump filters")
        want = (np.arange(37 * C) % 97 - 48).astype(np.float32).reshape(37, C)
        check(np.array_equal(d[()], want), "dump values")
        before = {k: runs[k][()].tobytes() for k in
                  ["1/stats/attn_in/absmax", "1/outliers/tokens", "2/ppl/weights"]}

    # a second writer appends runs 3 and 4; 1 and 2 stay as they were
    r = subprocess.run([EXE, "--write", path], capture_output=True, text=True)
    check(r.returncode == 0, "second --write: %s" % r.stderr)
    with h5py.File(path, "r") as f:
        runs = f["runs"]
        check(sorted(runs.keys(), key=int) == ["1", "2", "3", "4"], "runs 1..4")
        check(int(runs.attrs["latest"]) == 4, "latest = 4")
        for k, v in before.items():
            check(runs[k][()].tobytes() == v, "run data unchanged: " + k)
        check(as_str(runs["3"].attrs["run_label"]) == "sample-1", "run 3 label")

    # a file that is not HDF5 is refused and left alone
    notes = os.path.join(tmp, "notes.txt")
    with open(notes, "wb") as f:
        f.write(b"my notes, not results\n")
    r = subprocess.run([EXE, "--write", notes], capture_output=True, text=True)
    check(r.returncode != 0 and "not an HDF5 file" in r.stderr, "non-HDF5 refused: %s" % r.stderr)
    with open(notes, "rb") as f:
        check(f.read() == b"my notes, not results\n", "non-HDF5 file unchanged")

    # a writer killed by SIGKILL keeps every appended row and its flushed provenance
    kz = os.path.join(tmp, "killed.h5")
    r = subprocess.run([EXE, "--append-and-kill", kz], capture_output=True, text=True)
    check(r.returncode == -9, "killed child status %d: %s" % (r.returncode, r.stderr))
    try:
        with h5py.File(kz, "r") as f:
            t = f["runs/1/sweeps/killed"][()]
            check(len(t) == 50 and list(t["i"]) == list(range(50)), "50 rows after SIGKILL")
            d = f["runs/1/dump/resid/0"][()]
            check(d.shape == (24, 4) and np.array_equal(d.ravel(), np.arange(96)),
                  "dump rows after SIGKILL")
            check(int(f["runs/1/provenance"].attrs["seed"]) == 7, "provenance after SIGKILL")
    except (OSError, KeyError) as e:
        check(False, "killed writer's file unreadable: %s" % e)

    # rows appended before a failing write survive: the failure caught before HDF5 writes
    # (size check) and the failure inside HDF5's write (check off, 20 000 bytes of room)
    for extra in [None, "20000"]:
        fz = os.path.join(tmp, "fsize_%s.h5" % extra)
        args = [EXE, "--append-until-fail", fz] + ([extra] if extra else [])
        r = subprocess.run(args, capture_output=True, text=True)
        check(r.returncode == 3, "fsize child exit %d: %s" % (r.returncode, r.stderr))
        check("File too large" in r.stderr or "file size limit" in r.stderr,
              "fsize error reported: %s" % r.stderr)
        mt = re.search(r"appended (\d+)", r.stdout)
        k = int(mt.group(1)) if mt else -1
        check(k > 10, "rows appended before failing: %d" % k)
        try:
            with h5py.File(fz, "r") as f:
                t = f["runs/1/sweeps/fsize"][()]
                check(t.dtype.names == ("i", "x", "note"), "fsize table fields")
                check(len(t) >= k, "%d rows readable, %d appended" % (len(t), k))
                ok = all(t["i"][i] == i and t["x"][i] == i * 0.5 and
                         t["note"][i] == ("row %d %0150d" % (i, i)).encode() for i in range(k))
                check(ok, "fsize rows intact")
        except OSError as e:
            check(False, "file after failed write unreadable: %s" % e)

    if failures() == 0:
        subprocess.run(["rm", "-rf", tmp])
    else:
        print("files kept in", tmp, file=sys.stderr)
    return finish("test_h5store_h5py")


if __name__ == "__main__":
    sys.exit(main())
