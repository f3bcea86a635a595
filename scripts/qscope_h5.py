"""Reads qscope HDF5 results as pandas DataFrames (README.md, "Results (HDF5)").

    import sys; sys.path.insert(0, "scripts")        # from the repository root
    import qscope_h5
    r = qscope_h5.open("results/quickstart.h5")
    r.runs()                                    # one row per run: label, time, model, text, command
    r.table("outliers/channels", run=2)         # one table, strings decoded, provenance columns
    r.concat("ppl/*")                           # every ppl table of every run in one frame
    r.channel_stats("ffn_down_in", run=1)       # per-channel statistics, index (layer, channel)
    qscope_h5.concat(["a.h5", "b.h5"], "ppl/*")  # across files, with a `file` column

A run is chosen by number, by label (the newest run with that label) or, when omitted, as
the newest run that holds what is asked for. Every table row gets the run's key provenance:
`run`, `label` first, `model_sha256`, `text_sha256` last (a table column of the same name
keeps its name; the provenance one is then prefixed `prov_`). Asking for a run, table or
site that does not exist raises NotFound, whose message lists what does.

Standard library, numpy, h5py and pandas only (Debian packages); pandas is imported only
by the functions that return DataFrames, so scripts/figures shares the decoding helpers
without it. `python3 scripts/qscope_h5.py FILE` prints the runs and their tables.
"""
import fnmatch
import os
import sys

# reading a file another qscope process still holds open
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")

import h5py  # noqa: E402
import numpy as np  # noqa: E402

pd = None   # pandas, imported on first use: scripts/figures uses the helpers without it

PROVENANCE_FIRST = ("run", "label")
PROVENANCE_LAST = ("model_sha256", "text_sha256")


class NotFound(LookupError):
    """A run, table or site that the file does not hold; the message lists what it holds."""


# ---- decoding (no pandas) -------------------------------------------------------------------

def text(v):
    """A table cell or attribute as str (fixed-length HDF5 strings come back as bytes)."""
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode("utf-8", "replace")
    return str(v)


def value(v):
    """An attribute as a plain Python value: str, int, float, or a list for an array."""
    if isinstance(v, (bytes, np.bytes_, str)):
        return text(v)
    if isinstance(v, np.ndarray):
        return [value(x) for x in v.tolist()] if v.ndim else value(v[()])
    if isinstance(v, np.generic):
        return v.item()
    return v


def attrs(obj):
    """The attributes of an h5py object as a dict of plain values."""
    return {k: value(v) for k, v in obj.attrs.items()}


def columns(arr):
    """A structured array as {column: 1-D array}, string columns decoded to str objects."""
    out = {}
    for name in arr.dtype.names or ():
        col = arr[name]
        kind = arr.dtype[name].kind
        if kind == "S":
            col = np.array([c.decode("utf-8", "replace") for c in col.tolist()], dtype=object)
        elif kind == "O":
            col = np.array([text(c) for c in col.tolist()], dtype=object)
        elif col.ndim > 1:   # an array member: one list per row
            col = np.array(list(col), dtype=object)
        out[name] = col
    return out


def written_rows(ds):
    """A table's rows without the trailing ones that hold its own fill value: rows HDF5
    counts but never wrote, left by a kill -9 in mid-append (qscope's tables fill with NaN,
    INT64_MIN and empty strings, which no measurement is). Tables without a fill value of
    their own are returned whole."""
    arr = ds[()]
    dcpl = ds.id.get_create_plist()
    if dcpl.fill_value_defined() != h5py.h5d.FILL_VALUE_USER_DEFINED:
        return arr
    fill = ds.fillvalue.tobytes()
    n = len(arr)
    while n and arr[n - 1].tobytes() == fill:
        n -= 1
    return arr[:n]


def is_table(obj):
    return isinstance(obj, h5py.Dataset) and obj.dtype.names is not None and obj.ndim == 1


def table_paths(group):
    """Paths (relative to group) of every compound table under it, sorted."""
    out = []
    group.visititems(lambda name, obj: out.append(name) if is_table(obj) else None)
    return sorted(out)


def model_path(run_group):
    """The model a run used: /model's path, else the provenance's model_path, else the first
    ppl or sweep table whose `model` column holds a path (runs without a profile). "" when
    none says."""
    g = run_group.get("model")
    path = text(g.attrs.get("path", "")) if isinstance(g, h5py.Group) else ""
    prov = run_group.get("provenance")
    if not path and isinstance(prov, h5py.Group):
        path = text(prov.attrs.get("model_path", ""))
    if path:
        return path
    for sub in ("ppl", "sweeps"):
        g = run_group.get(sub)
        if not isinstance(g, h5py.Group):
            continue
        for name in sorted(g):
            d = g[name]
            if is_table(d) and "model" in d.dtype.names and d.shape[0] > 0:
                v = text(d[0]["model"])
                if "/" in v or "." in v:
                    return v
    return ""


def run_numbers(f):
    """The run numbers of an open file, ascending."""
    runs = f.get("runs")
    if not isinstance(runs, h5py.Group):
        raise NotFound(f"{f.filename}: no /runs group (not a qscope results file)")
    return sorted(int(k) for k in runs if k.isdigit())


# ---- DataFrames ------------------------------------------------------------------------------

def _need_pandas():
    global pd
    if pd is None:
        try:
            import pandas
        except ImportError:
            raise ImportError("qscope_h5: pandas is needed for DataFrames (Debian: "
                              "apt-get install python3-pandas, or scripts/setup)") from None
        pd = pandas


def _listing(items, limit=40):
    items = list(items)
    if not items:
        return "none"
    more = f", … ({len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(str(x) for x in items[:limit]) + more


class Results:
    """One results file, opened read-only. Use as a context manager or call close()."""

    def __init__(self, path):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such file")
        self.path = path
        self.f = h5py.File(path, "r")
        self.numbers = run_numbers(self.f)

    def close(self):
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<qscope results {self.path}: runs {_listing(self.numbers)}>"

    # -- runs --

    def group(self, run):
        return self.f["runs"][str(run)]

    def label(self, run):
        g = self.group(run)
        lab = g.attrs.get("run_label")
        if lab is None and "provenance" in g:
            lab = g["provenance"].attrs.get("run_label", "")
        return text(lab if lab is not None else "")

    def provenance(self, run=None):
        """The provenance attributes of a run (default the newest) as a dict."""
        g = self.group(self.pick(run))
        return attrs(g["provenance"]) if "provenance" in g else {}

    def attrs(self, path, run=None):
        """The attributes of any group or dataset of a run, e.g. "outliers" or "model"."""
        path = path.strip("/")
        n = self.pick(run, path, tables=False)
        if path not in self.group(n):
            raise NotFound(f"{self.path}: run {n} has no {path!r}; "
                           f"its groups: {_listing(sorted(self.group(n)))}")
        return attrs(self.group(n)[path])

    def tables(self, run=None):
        """The table paths of a run (default the newest)."""
        return table_paths(self.group(self.pick(run)))

    def pick(self, run=None, path=None, tables=True):
        """A run number from a number, a label (the newest run with it) or None (the newest
        run); with path, the newest of those that holds it (a table, or any object)."""
        if not self.numbers:
            raise NotFound(f"{self.path}: the file holds no run")
        if run is None:
            cands, which = self.numbers, "run"
        elif isinstance(run, str) and not run.isdigit():
            cands = [n for n in self.numbers if self.label(n) == run]
            which = f"run labelled {run!r}"
            if not cands:
                labels = dict.fromkeys(self.label(n) or "(none)" for n in self.numbers)
                raise NotFound(f"{self.path}: no run labelled {run!r} (labels: {_listing(labels)})")
        else:
            n = int(run)
            if n not in self.numbers:
                raise NotFound(f"{self.path}: no run {n} (runs: {_listing(self.numbers)})")
            return n
        if path is None:
            return cands[-1]
        holding = [n for n in cands if self._holds(n, path, tables)]
        if not holding:
            raise NotFound(f"{self.path}: no {which} holds {path!r}; "
                           f"{self._what_exists(cands, tables)}")
        return holding[-1]

    def _holds(self, n, path, tables):
        obj = self.group(n).get(path)
        return is_table(obj) if tables else obj is not None

    def _what_exists(self, numbers, tables):
        if tables:
            have = sorted({t for n in numbers for t in self.tables(n)})
            return f"tables: {_listing(have)}"
        have = set()
        for n in numbers:
            self.group(n).visit(have.add)
        return f"paths: {_listing(sorted(have))}"

    def runs(self):
        """One row per run, indexed by run number: label, start and end time, model and text
        (paths and sha256), the command line, the qscope version and revision, the tables."""
        _need_pandas()
        rows = []
        for n in self.numbers:
            g = self.group(n)
            p = attrs(g["provenance"]) if "provenance" in g else {}
            rows.append({
                "run": n, "label": self.label(n),
                "start_time": p.get("start_time", ""), "end_time": p.get("end_time", ""),
                "model": model_path(g), "text": p.get("text_path", ""),
                "command": p.get("command_line", ""),
                "model_sha256": p.get("model_sha256", ""), "text_sha256": p.get("text_sha256", ""),
                "qscope_version": p.get("qscope_version", ""), "git_rev": p.get("git_rev", ""),
                "tables": ", ".join(table_paths(g)),
            })
        df = pd.DataFrame(rows, columns=["run", "label", "start_time", "end_time", "model", "text",
                                         "command", "model_sha256", "text_sha256",
                                         "qscope_version", "git_rev", "tables"])
        for c in ("start_time", "end_time"):
            df[c] = pd.to_datetime(df[c], errors="coerce", utc=True)
        return df.set_index("run")

    # -- tables --

    def table(self, path, run=None):
        """The table at path in a run as a DataFrame, strings decoded, with the run's key
        provenance as columns. Raises NotFound (listing the run's tables) for anything else."""
        _need_pandas()
        path = path.strip("/")
        try:
            n = self.pick(run, path)
        except NotFound:   # held as a group or an array: say so rather than "no run holds"
            if not any(path in self.group(k) for k in self.numbers):
                raise
            n = self.pick(run, path, tables=False)
        obj = self.group(n).get(path)
        if not is_table(obj):
            what = (f"{path!r} is not a table (a {obj.dtype} {list(obj.shape)} dataset: read it "
                    "with h5py, or channel_stats for stats/<site>)" if isinstance(obj, h5py.Dataset)
                    else f"{path!r} is a group" if obj is not None else f"no table {path!r}")
            raise NotFound(f"{self.path}: run {n}: {what}; its tables: {_listing(self.tables(n))}")
        return self._frame(n, written_rows(obj))

    def _frame(self, n, arr, extra=None):
        cols = columns(arr)
        p = self.provenance(n)
        prov = {"run": n, "label": self.label(n),
                "model_sha256": text(p.get("model_sha256", "")),
                "text_sha256": text(p.get("text_sha256", ""))}
        prov.update(extra or {})
        name = {k: (f"prov_{k}" if k in cols else k) for k in prov}
        first = [k for k in prov if k not in PROVENANCE_LAST]
        data = {name[k]: np.full(len(arr), prov[k], dtype=object if isinstance(prov[k], str)
                                 else None) for k in first}
        data.update(cols)
        data.update({name[k]: np.full(len(arr), prov[k], dtype=object) for k in PROVENANCE_LAST})
        return pd.DataFrame(data)

    def concat(self, pattern, runs=None):
        """Every table whose path matches the shell-style pattern (e.g. "ppl/*",
        "stats/*/tensor"), over runs (default all; numbers or labels), in one DataFrame with
        a `table` column naming each row's table. Columns missing from a table are NaN."""
        _need_pandas()
        pattern = pattern.strip("/")
        numbers = self.numbers if runs is None else [self.pick(r) for r in runs]
        frames = []
        for n in numbers:
            for t in self.tables(n):
                if fnmatch.fnmatchcase(t, pattern):
                    arr = written_rows(self.group(n)[t])
                    if len(arr):
                        frames.append(self._frame(n, arr, {"table": t}))
        if not frames:
            have = sorted({t for n in numbers for t in self.tables(n)})
            raise NotFound(f"{self.path}: no table matches {pattern!r} (or all are empty) in runs "
                           f"{_listing(numbers)}; tables: {_listing(have)}")
        return pd.concat(frames, ignore_index=True, sort=False)

    # -- statistics --

    def sites(self, run=None):
        g = self.group(self.pick(run, "stats", tables=False)).get("stats")
        return sorted(g) if isinstance(g, h5py.Group) else []

    def channel_stats(self, site, run=None, stats=None):
        """Per-channel statistics of a capture site (stats/<site>/<stat>, [L, C] each) as a
        DataFrame indexed by (layer, channel), one column per statistic (or those in stats),
        only the layers profiled. df.attrs holds run, label, site and the group's attributes
        (count, n_windows)."""
        _need_pandas()
        path = f"stats/{site}"
        try:
            n = self.pick(run, path, tables=False)
            if path not in self.group(n):   # a run given by number is not checked by pick
                raise NotFound(path)
        except NotFound:
            numbers = self.numbers if run is None else [self.pick(run)]
            have = sorted({s for k in numbers for s in self.sites(k)})
            where = "" if run is None else f" in run {numbers[0]}"
            raise NotFound(f"{self.path}: no statistics of site {site!r}{where}; "
                           f"sites: {_listing(have)}") from None
        g = self.group(n)[path]
        names = [k for k, d in g.items() if isinstance(d, h5py.Dataset) and d.ndim == 2
                 and d.dtype.names is None]
        if stats is not None:
            unknown = [s for s in stats if s not in names]
            if unknown:
                raise NotFound(f"{self.path}: run {n}: {path} has no statistic "
                               f"{_listing(unknown)}; it has: {_listing(sorted(names))}")
            names = list(stats)
        mats = {k: g[k][()] for k in names}
        L, C = next(iter(mats.values())).shape if mats else (0, 0)
        if "layers" in g:
            layers = [int(x) for x in g["layers"][()]]
        else:   # NaN rows are the layers not profiled
            layers = [i for i in range(L) if any(np.isfinite(m[i]).any() for m in mats.values())]
        index = pd.MultiIndex.from_product([layers, range(C)], names=["layer", "channel"])
        df = pd.DataFrame({k: m[layers].ravel() for k, m in mats.items()}, index=index)
        df.attrs.update({"run": n, "label": self.label(n), "site": site, **attrs(g)})
        return df


def open(path):  # noqa: A001 -- read-only, like h5py.File(path, "r")
    """A results file (Results); close it, or use it in a with-statement."""
    return Results(path)


def concat(paths, pattern, runs=None):
    """Results.concat over several files, with a leading `file` column. A file where nothing
    matches is skipped; nothing matching in any file raises NotFound."""
    _need_pandas()
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    frames, misses = [], []
    for p in paths:
        with Results(p) as r:
            try:
                df = r.concat(pattern, runs)
            except NotFound as e:
                misses.append(str(e))
                continue
        df.insert(0, "file", str(p))
        frames.append(df)
    if not frames:
        raise NotFound("; ".join(misses))
    return pd.concat(frames, ignore_index=True, sort=False)


def main(argv):
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: qscope_h5.py RESULTS.h5  (prints the runs and their tables)",
              file=sys.stderr)
        return 2
    try:
        r = Results(argv[0])
    except (OSError, NotFound) as e:
        print(f"qscope_h5: {e}", file=sys.stderr)
        return 1
    with r:
        df = r.runs()
        with pd.option_context("display.width", 200, "display.max_colwidth", 60):
            print(df[["label", "start_time", "model", "text", "command"]].to_string())
        for n in r.numbers:
            print(f"run {n}: {df.loc[n, 'tables'] or '(no tables)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
