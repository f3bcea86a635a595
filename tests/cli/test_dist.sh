# Sweeps past one process (core/dist): job-array shards joined by qscope merge give the rows
# of one process bit for bit; merge refuses runs of other parameters or texts naming the
# file and the field; a shard killed by SIGKILL keeps every row it reported and --resume
# completes the grid without duplicates. With Open MPI (and a qscope built with it):
# mpirun -n 2 gives the same rows as one process (sweep of 24 configurations, an eval list,
# a Lua script), and killing rank 1 or rank 0 mid-sweep keeps every row rank 0 reported,
# --resume (on two ranks or one process) completing the grid. One thread per process.
. "$QS_ROOT/tests/lib/common.sh"
M="$QS_ROOT/data/models/stories260K.bin"
T="$QS_ROOT/data/text/tinystories_v2_valid_head100.txt"
T2="$QS_ROOT/data/text/tinystories_v1_valid_head.txt"
# 4 bits x 3 granularities x 2 clips = 24 configurations on 35 weights + 20 activation pairs
GRID=(--bits 8,6,4,3 --gran tensor,channel,group:32 --clip absmax,percentile:99.9)
S=("$QSCOPE" sweep "$M" "$T" "${GRID[@]}" --ctx 64 --tokens 64 --threads 1)
# the slow grid for the kill tests (mse clipping searches), so a kill lands mid-sweep
SLOW=("$QSCOPE" sweep "$M" "$T" --bits 8,4 --gran tensor,channel,group:32 --clip absmax,mse --ctx 64 --tokens 128 --threads 1 --rows)

# The HDF5 checks run together at the end, in one python (h5py takes a while to import):
# `later NAME CHECK ARGS...` queues one; files a later step changes are copied first.
# Checks (dist_checks.py below):
#   rows FILE... [--table T] [--same REF] [--within REF --count N] [--printed OUT]
#     every row of every run of the files, keyed by the table's dist_key_columns: no key
#     twice; --same: the same keys and bytes (every column but seconds) as REF's rows;
#     --within: each row in REF with the same bytes, N of them; --printed: every row a
#     sweep printed with --rows is in the files
#   order JSON_A JSON_B H5: both JSON row lists equal, as long as the table (24 x 55)
#   origin MERGED: each merged row's origin, its source shard, merged_from
#   count H5 N: the first run's sweeps/sweep has N rows
#   ranks H5: rows carry rank (0 or 1) and this host; every item once
: >"$TMP/plan"
later() {
    local name=$1; shift
    local args=() a k=0
    for a in "$@"; do
        # a file that later steps change is checked as it is now
        if [ -f "$a" ] && [[ "$a" == *.h5 || "$a" == *.json || "$a" == *.out ]]; then
            k=$((k + 1)); cp "$a" "$TMP/snap.$k.$(basename "$a")"; a="$TMP/snap.$k.$(basename "$a")"
        fi
        args+=("$a")
    done
    printf '%s' "$name" >>"$TMP/plan"
    printf '\t%s' "${args[@]}" >>"$TMP/plan"
    printf '\n' >>"$TMP/plan"
}
cat >"$TMP/dist_checks.py" <<'PY'
import json, socket, sys, h5py, numpy as np

def table_rows(path, table):
    f = h5py.File(path, "r")
    out, dup = {}, 0
    for r in sorted(f["runs"].keys(), key=int):
        g = f["runs"][r]
        if table not in g: continue
        t = g[table]
        keys = t.attrs["dist_key_columns"].split(",")
        a = t[:]
        cols = [c for c in a.dtype.names if c != "seconds"]
        for row in a:
            k = tuple(row[c].item() for c in keys)
            if k in out: dup += 1
            out[k] = b"".join(np.asarray(row[c]).tobytes() for c in cols)
    return out, dup

def printed_keys(path):
    seen = set()
    for line in open(path):
        w = line.split()
        if not w or w[0] not in ("weight", "activation"): continue
        g, grp = w[5], 0
        if g.startswith("group:"): g, grp = "group", int(g[6:])
        c, cv = w[6], 0.0
        if c.startswith("percentile:"): c, cv = "percentile", float(c[11:])
        seen.add((w[0].encode(), w[1].encode(), int(w[2]), int(w[3].split("-")[0]),
                  w[4].encode(), g.encode(), grp, c.encode(), cv))
    return seen

def opt(args, name, default=None):
    return args[args.index(name) + 1] if name in args else default

def rows(args):
    table = opt(args, "--table", "sweeps/sweep")
    files = [a for i, a in enumerate(args) if not a.startswith("--") and (i == 0 or not args[i - 1].startswith("--"))]
    got, dups = {}, 0
    for p in files:
        r, d = table_rows(p, table)
        dups += d + len(set(r) & set(got))
        got.update(r)
    ok, msg = dups == 0, [f"{len(got)} rows, {dups} duplicate keys"]
    if opt(args, "--same"):
        ref, _ = table_rows(opt(args, "--same"), table)
        diff = [k for k in ref if k in got and ref[k] != got[k]]
        ok = ok and set(ref) == set(got) and not diff and len(ref) > 0
        msg.append(f"reference {len(ref)} rows, same keys {set(ref) == set(got)}, {len(diff)} differing")
    if opt(args, "--within"):
        ref, _ = table_rows(opt(args, "--within"), table)
        diff = [k for k in got if k not in ref or ref[k] != got[k]]
        ok = ok and not diff and len(got) == int(opt(args, "--count"))
        msg.append(f"{len(diff)} rows absent from or differing in the whole grid")
    if opt(args, "--printed"):
        seen = printed_keys(opt(args, "--printed"))
        missing = seen - set(got)
        ok = ok and not missing and len(seen) > 0
        msg.append(f"{len(seen)} printed, {len(missing)} of them missing")
    return ok, "; ".join(msg)

def order(args):
    a, b = json.load(open(args[0]))["rows"], json.load(open(args[1]))["rows"]
    n = len(h5py.File(args[2])["runs/1/sweeps/sweep"])
    return a == b and len(a) == n == 24 * 55, f"{len(a)} and {len(b)} json rows, {n} in the table"

def origin(args):
    r = h5py.File(args[0])["runs/1"]
    o = r["provenance/rows/sweeps/sweep"][:]
    src = {s.decode().rsplit(":", 1)[0].rsplit("/", 1)[1] for s in o["source"]}
    ok = len(o) == len(r["sweeps/sweep"]) and src == {"shard1.h5", "shard2.h5", "shard3.h5"}
    ok = ok and list(o["row"]) == list(range(len(o))) and len(r["provenance"].attrs["merged_from"]) == 3
    return ok, f"{len(o)} origins from {sorted(src)}"

def count(args):
    n = len(h5py.File(args[0])["runs/1/sweeps/sweep"])
    return n == int(args[1]), f"{n} rows"

def ranks(args):
    r = h5py.File(args[0])["runs/1"]
    o = r["provenance/rows/sweeps/sweep"][:]
    t = r["sweeps/sweep"]
    host = socket.gethostname()[:64]
    ok = len(o) == len(t) == 1320 and set(o["rank"]) <= {0, 1} and all(h.decode() == host for h in o["host"])
    ok = ok and sorted(o["item"]) == list(range(1320)) and t.attrs["dist_ranks"] == 2
    return ok, f"ranks {sorted(set(o['rank']))}, {len(o)} origins"

for line in open(sys.argv[1]):
    name, kind, *args = line.rstrip("\n").split("\t")
    try:
        ok, msg = globals()[kind](args)
    except Exception as e:
        ok, msg = False, repr(e)
    print(("ok  " if ok else "BAD ") + name + ": " + msg)
PY

# the reference: one process, the plain loop (no -o) and the distributed one (-o) agree
expect_ok "one process" -- "${S[@]}" -o "$TMP/ref.h5" --json
cp "$TMP/out" "$TMP/ref.json"
expect_ok "plain loop" -- "${S[@]}" --json
cp "$TMP/out" "$TMP/plain.json"
later "the plain loop's rows are the distributed loop's, in the same order" order "$TMP/ref.json" "$TMP/plain.json" "$TMP/ref.h5"
later "reference has distinct rows" rows "$TMP/ref.h5"

# job arrays: three shards, each its own file, merged
for i in 1 2 3; do
    expect_ok "shard $i/3" -- "${S[@]}" --shard "$i/3" -o "$TMP/shard$i.h5"
done
expect_ok "merge" -- "$QSCOPE" merge "$TMP/merged.h5" "$TMP/shard1.h5" "$TMP/shard2.h5" "$TMP/shard3.h5" --json
later "merged shards = one process, bit for bit" rows "$TMP/merged.h5" --same "$TMP/ref.h5"
later "a shard holds a third" count "$TMP/shard2.h5" 440
later "merged rows keep their origin" origin "$TMP/merged.h5"
expect_ok "merge twice the same shard" -- "$QSCOPE" merge "$TMP/dup.h5" "$TMP/shard1.h5" "$TMP/shard1.h5" --json
check "a row read twice is written once" grep -qzE '"rows_written":\s*440,\s*"duplicates":\s*440,\s*"conflicts":\s*0' "$TMP/out"
# runs of other parameters or another text are refused, naming the file and the field
expect_ok "other tokens" -- "$QSCOPE" sweep "$M" "$T" --bits 8 --gran tensor --clip absmax --ctx 64 --tokens 32 --threads 1 -o "$TMP/other.h5"
expect_fail "merge: other parameters" "other\.h5 run 1: sweeps/sweep: dist_params \(parameters\) differs from .*shard1\.h5 run 1: sweep\.tokens: 32 vs 64" -- "$QSCOPE" merge "$TMP/bad.h5" "$TMP/shard1.h5" "$TMP/other.h5"
expect_ok "other text" -- "$QSCOPE" sweep "$M" "$T2" --bits 8 --gran tensor --clip absmax --ctx 64 --tokens 64 --threads 1 -o "$TMP/text2.h5"
expect_fail "merge: another text" "text2\.h5 run 1: provenance: text_sha256 differs" -- "$QSCOPE" merge "$TMP/bad.h5" "$TMP/shard1.h5" "$TMP/text2.h5"
check "a refused merge writes nothing" test ! -e "$TMP/bad.h5"
expect_fail "shard without a file" "--shard needs -o" -- "${S[@]}" --shard 1/2
expect_fail "bad shard" "--shard '3/2' must be I/N" -- "${S[@]}" --shard 3/2 -o "$TMP/x.h5"
expect_fail "merge into an input" "also an input" -- "$QSCOPE" merge "$TMP/shard1.h5" "$TMP/shard1.h5"

# a shard killed by SIGKILL: every row it printed (after writing it) is in its file, and
# --resume computes only the rest
expect_ok "the slow grid at once" -- "${SLOW[@]}" -o "$TMP/slow_ref.h5"
"${SLOW[@]}" --shard 2/2 -o "$TMP/kill.h5" >"$TMP/kill.out" 2>"$TMP/kill.err" &
pid=$!
for _ in $(seq 1 500); do
    [ "$(grep -cE '^(weight|activation) ' "$TMP/kill.out")" -ge 40 ] && break
    sleep 0.01
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
later "killed shard: every printed row is in the file" rows "$TMP/kill.h5" --printed "$TMP/kill.out"
expect_ok "resume the shard" -- "${SLOW[@]}" --shard 2/2 -o "$TMP/kill.h5" --resume
later "resumed shard = its half of the grid, no duplicates" rows "$TMP/kill.h5" --within "$TMP/slow_ref.h5" --count 330
expect_ok "resume a complete file" -- "${SLOW[@]}" --shard 2/2 -o "$TMP/kill.h5" --resume
check "nothing left to compute" grep -q "0/0 items done, 330 skipped" "$TMP/err"
expect_ok "resume with other parameters" -- "$QSCOPE" sweep "$M" "$T" --bits 8 --gran tensor --clip absmax --ctx 64 --tokens 32 --threads 1 -o "$TMP/kill.h5" --resume
check "other parameters reuse nothing" grep -q "another model, text or parameters; not reused" "$TMP/err"

# evaluation lists: several configs in one loop, shards and merge
E=("$QSCOPE" eval "$M" "$T" --ctx 64 --max-tokens 128 --threads 1 --config "W8A8 per-token" --config "W4A16 g32" --config "W16A4 per-tensor")
expect_ok "eval list" -- "${E[@]}" -o "$TMP/eref.h5"
for i in 1 2; do expect_ok "eval shard $i/2" -- "${E[@]}" --shard "$i/2" -o "$TMP/e$i.h5"; done
expect_ok "eval merge" -- "$QSCOPE" merge "$TMP/emerged.h5" "$TMP/e1.h5" "$TMP/e2.h5"
later "eval shards merged = one process" rows "$TMP/emerged.h5" --table ppl/eval --same "$TMP/eref.h5"
expect_ok "eval with a config that cannot run" -- "$QSCOPE" eval "$M" "$T" --ctx 64 --max-tokens 128 --threads 1 --config "W8A8" --config "W4A8 layers:9" --json
check "the failing config is a row with its error" grep -qE '"error":\s*"config layers: layer 9 does not exist' "$TMP/out"
check "... and the other one ran" grep -qzE '"n_rows":\s*2,\s*"n_errors":\s*1,' "$TMP/out"

run_later() {
    /usr/bin/python3 "$TMP/dist_checks.py" "$TMP/plan" >"$TMP/checks" 2>&1
    while IFS= read -r line; do
        case "$line" in "ok  "*) ok ;; *) bad "$line" ;; esac
    done <"$TMP/checks"
    [ -s "$TMP/checks" ] || bad "the HDF5 checks gave no result"
}

# ---- MPI --------------------------------------------------------------------------------
if [ "${QS_SANITIZE:-0}" = 1 ] || [ "${QS_SANITIZE:-}" = ON ]; then
    echo "test_dist: MPI part skipped under the sanitizers (Open MPI's own allocations)"
    run_later; summary; exit
fi
if ! command -v mpirun >/dev/null; then
    echo "test_dist: mpirun not found: MPI part skipped (scripts/setup installs openmpi-bin)"
    run_later; summary; exit
fi
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPI=(mpirun --oversubscribe -n 2)
if ! "${MPI[@]}" "$QSCOPE" info "$M" >"$TMP/mpi.out" 2>"$TMP/mpi.err"; then
    if grep -q "built without MPI" "$TMP/mpi.err"; then
        echo "test_dist: qscope was built without MPI: MPI part skipped"
        run_later; summary; exit
    fi
    bad "mpirun qscope info"; sed -n 1,20p "$TMP/mpi.err" >&2
fi
check "a command that does not spread runs on rank 0 alone" test "$(grep -c '^model ' "$TMP/mpi.out")" = 1

expect_ok "mpirun -n 2 sweep" -- "${MPI[@]}" "${S[@]}" -o "$TMP/mpi.h5"
later "mpirun -n 2 = one process, bit for bit (24 configurations)" rows "$TMP/mpi.h5" --same "$TMP/ref.h5"
check "rank 0 reports progress across ranks" grep -qE "sweep: 1320/1320 items done, 0 skipped .*2 ranks.*rows/s" "$TMP/err"
later "rows carry rank and host" ranks "$TMP/mpi.h5"

expect_ok "mpirun -n 2 eval list" -- "${MPI[@]}" "${E[@]}" -o "$TMP/empi.h5"
later "mpirun eval = one process" rows "$TMP/empi.h5" --table ppl/eval --same "$TMP/eref.h5"

cat >"$TMP/loops.lua" <<'LUA'
local p = declare_params{ out = "", model = "", text = "" }
local m = qs.model(p.model)
local txt = qs.text(p.text)
local out = qs.results(p.out)
local rows = m:sweep{ bits = "8,4", gran = "tensor,group:32", clip = "absmax", text = txt, ctx = 64, tokens = 64, results = out, name = "s" }
local ev = m:eval{ configs = { "W8A8 per-token", "W4A16 g32", "W16A6" }, text = txt, ctx = 64, max_tokens = 128, results = out, name = "e" }
print("rows", #rows, #ev)
LUA
expect_ok "lua, one process" -- "$QSCOPE" run "$TMP/loops.lua" out="$TMP/lua1.h5" model="$M" text="$T" --threads 1
expect_ok "lua, mpirun -n 2" -- "${MPI[@]}" "$QSCOPE" run "$TMP/loops.lua" out="$TMP/lua2.h5" model="$M" text="$T" --threads 1
check "lua: printed once (rank 0 runs the script)" test "$(grep -c '^rows' "$TMP/out")" = 1
later "lua sweep under mpirun = one process" rows "$TMP/lua2.h5" --table sweeps/s --same "$TMP/lua1.h5"
later "lua eval list under mpirun = one process" rows "$TMP/lua2.h5" --table ppl/e --same "$TMP/lua1.h5"

# kill rank 1 mid-sweep: it is stopped while it holds items, then killed; mpirun ends the
# job. Every row rank 0 printed is in the file; --resume (on two ranks) completes the grid.
tag="qs_dist_test_$$"
QS_DIST_TEST_TAG=$tag "${MPI[@]}" "${SLOW[@]}" -o "$TMP/mkill.h5" >"$TMP/mkill.out" 2>"$TMP/mkill.err" &
mp=$!
r1=""
for _ in $(seq 1 500); do
    for p in $(pgrep -f "qscope sweep" 2>/dev/null); do
        env=$(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null)
        if grep -qx "QS_DIST_TEST_TAG=$tag" <<<"$env" && grep -qx "OMPI_COMM_WORLD_RANK=1" <<<"$env"; then r1=$p; fi
    done
    [ -n "$r1" ] && break
    sleep 0.01
done
for _ in $(seq 1 500); do
    [ "$(grep -cE '^(weight|activation) ' "$TMP/mkill.out")" -ge 40 ] && break
    sleep 0.01
done
if [ -n "$r1" ]; then
    kill -STOP "$r1"
    # rank 0 computes what the queue holds, then waits for rank 1
    prev=-1
    for _ in $(seq 1 100); do
        n=$(grep -cE '^(weight|activation) ' "$TMP/mkill.out")
        [ "$n" = "$prev" ] && break
        prev=$n
        sleep 0.2
    done
    kill -9 "$r1"
fi
wait $mp 2>/dev/null
check "rank 1 found and killed" test -n "$r1"
later "killed rank 1: every row rank 0 printed is in the file" rows "$TMP/mkill.h5" --printed "$TMP/mkill.out"
expect_ok "resume on two ranks" -- "${MPI[@]}" "${SLOW[@]}" -o "$TMP/mkill.h5" --resume
later "resumed grid = one process, no duplicates" rows "$TMP/mkill.h5" --same "$TMP/slow_ref.h5"

# kill rank 0 (the writer) mid-sweep: mpirun ends rank 1; every row printed is in the file,
# and one process without MPI resumes the file
tag0="qs_dist_test0_$$"
QS_DIST_TEST_TAG=$tag0 "${MPI[@]}" "${SLOW[@]}" -o "$TMP/mkill0.h5" >"$TMP/mkill0.out" 2>"$TMP/mkill0.err" &
mp=$!
for _ in $(seq 1 500); do
    [ "$(grep -cE '^(weight|activation) ' "$TMP/mkill0.out")" -ge 40 ] && break
    sleep 0.01
done
r0=""
for p in $(pgrep -f "qscope sweep" 2>/dev/null); do
    env=$(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null)
    if grep -qx "QS_DIST_TEST_TAG=$tag0" <<<"$env" && grep -qx "OMPI_COMM_WORLD_RANK=0" <<<"$env"; then r0=$p; fi
done
[ -n "$r0" ] && kill -9 "$r0"
wait $mp 2>/dev/null
check "rank 0 found and killed" test -n "$r0"
later "killed rank 0: every row it printed is in the file" rows "$TMP/mkill0.h5" --printed "$TMP/mkill0.out"
expect_ok "resume in one process" -- "${SLOW[@]}" -o "$TMP/mkill0.h5" --resume
later "resumed after rank 0's kill = one process, no duplicates" rows "$TMP/mkill0.h5" --same "$TMP/slow_ref.h5"
run_later
summary
