# experiments/notebooks/quickstart.ipynb runs headless (scripts/notebook: Debian's nbclient and
# ipykernel, installed by scripts/setup) on a fresh, small quickstart results file: no cell
# fails, the code cells run once each in order, the figure is drawn inline, and what the
# cells print comes from that file (its path, the ten planted channels). The committed
# notebook is either clean (no outputs) or one whole top-to-bottom run of the default
# quickstart whose outputs have the shape of the fresh run's, cell by cell (a cell edited
# without re-running shows). A missing results file fails the run with the cell's error.
. "$QS_ROOT/tests/lib/common.sh"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1   # a 260K model: threads only add overhead
# the kernel's, IPython's and matplotlib's files go to the test's folder, not $HOME
export JUPYTER_RUNTIME_DIR=$TMP/jupyter IPYTHONDIR=$TMP/ipython MPLCONFIGDIR=$TMP/mpl
PY=/usr/bin/python3
NB=$QS_ROOT/experiments/notebooks/quickstart.ipynb
RUNNER=$QS_ROOT/scripts/notebook

check "nbclient, nbformat, ipykernel and pandas importable (scripts/setup installs them)" \
    $PY -c 'import nbclient, nbformat, ipykernel, pandas'
expect_ok quickstart -- "$QSCOPE" run "$QS_ROOT/experiments/quickstart.lua" \
    tokens=1024 eval_tokens=256 ctx=128 out="$TMP/q.h5"
expect_ok "notebook runs" -- "$RUNNER" "$NB" --results "$TMP/q.h5" -o "$TMP/run.ipynb"

check "fresh run and committed notebook" $PY - "$TMP/run.ipynb" "$NB" "$TMP/q.h5" <<'PYEOF'
import base64, io, os, re, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.image as mpimg
import nbformat
import numpy as np
sys.path.insert(0, os.path.join(os.environ["QS_ROOT"], "tests/ref"))
from witness import check, finish

run = nbformat.read(sys.argv[1], as_version=4)
committed = nbformat.read(sys.argv[2], as_version=4)
results = sys.argv[3]
nbformat.validate(run)
nbformat.validate(committed)


def code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def text_of(nb):
    out = []
    for c in code(nb):
        for o in c.get("outputs", []):
            if o.output_type == "stream":
                out.append(o.text)
            elif "data" in o:
                out.append(o.data.get("text/plain", ""))
    return "\n".join(out)


def shape(cell):
    """What a cell shows, without the numbers: output kinds and MIME types, printed lines with
    their numbers masked, the column headers of each table shown (stderr is left out:
    warnings may differ between a small and a full run)."""
    out = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream" and o.name == "stdout":
            out.append(("stdout", re.sub(r"[-+]?\d[\d.e+-]*", "#", o.text)))
        elif "data" in o:
            out.append((o.output_type, tuple(sorted(o.data))))
            head = re.search(r"<thead>(.*?)</thead>", o.data.get("text/html", ""), re.S)
            if head:
                out.append(("columns", tuple(re.findall(r"<th[^>]*>(.*?)</th>", head.group(1)))))
    return out


cells = code(run)
check([c.execution_count for c in cells] == list(range(1, len(cells) + 1)),
      f"execution counts {[c.execution_count for c in cells]}")
check(not any(o.output_type == "error" for c in cells for o in c.outputs), "no error output")
txt = text_of(run)
check(f"{results}: runs 1, 2" in txt, "read the fresh file (its path and two runs)")
check("original: run 1, planted: run 2" in txt, "original and planted runs found by label")
check("original model: 0 persistent outlier channels" in txt and
      "planted copy: 10 persistent outlier channels" in txt, "outlier channel counts")
for word in ("ffn_down_in", "kld_mean", "per-token", "g32"):
    check(word in txt, f"{word} in the tables shown")
pngs = [o.data["image/png"] for c in cells for o in c.outputs
        if o.output_type == "display_data" and "image/png" in o.get("data", {})]
check(len(pngs) == 1, f"one inline figure ({len(pngs)})")
if pngs:
    img = mpimg.imread(io.BytesIO(base64.b64decode(pngs[0])), format="png")[..., :3]
    ink = (img < 0.9).any(axis=2).mean()
    colours = len(np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    check(img.shape[0] > 300 and img.shape[1] > 500 and ink > 0.02 and colours > 20,
          f"figure not blank: {img.shape}, ink {ink:.3f}, {colours} colours")

# the committed notebook: clean, or a whole run of the default quickstart with the same shape
old = code(committed)
clean = all(not c.outputs and c.execution_count is None for c in old)
if not clean:
    check([c.execution_count for c in old] == list(range(1, len(old) + 1)),
          f"committed: one top-to-bottom run, counts {[c.execution_count for c in old]}")
    check(not any(o.output_type == "error" for c in old for o in c.outputs), "committed: no error")
    check("results/quickstart.h5: runs" in text_of(committed) and "/tmp/" not in text_of(committed),
          "committed outputs come from results/quickstart.h5, not a test file")
    for i, (a, b) in enumerate(zip(old, cells)):
        check(shape(a) == shape(b), f"committed cell {i + 1} shows {shape(a)}, a fresh run "
              f"{shape(b)}: re-run it (scripts/notebook {sys.argv[2]} --inplace)")
sys.exit(finish("notebook"))
PYEOF

expect_fail "missing results file" "none\.h5: no such file" -- \
    "$RUNNER" "$NB" --results "$TMP/none.h5"
check "the failing cell is named" grep -q "a cell failed" "$TMP/err"
expect_fail "not a notebook" "not a readable notebook" -- "$RUNNER" "$TMP/q.h5"
summary
