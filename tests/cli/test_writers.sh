# One writer per results file (issue 12, item 3): a second qscope that opens a results file
# another one is writing is refused with a message naming the other writer, whether HDF5's
# own file locking is on or off (HDF5_USE_FILE_LOCKING=FALSE, the usual setting on NFS and
# Lustre, where both writers used to exit 0 and one run's rows vanished); the first
# writer's rows all survive; once it is gone (even by SIGKILL) the file takes new runs.
# A file that another program (h5py) holds open for writing is refused as such, not as
# "truncated or corrupt".
. "$QS_ROOT/tests/lib/common.sh"
PY=/usr/bin/python3
M=$QS_ROOT/data/models/stories260K.bin
TXT=$QS_ROOT/data/text/tinystories_v2_valid_head100.txt
S=$TMP/rows.lua
cat > "$S" <<'LUA'
local p = declare_params{ out = "", n = 10 }
local out = qs.results(p.out)
for i = 0, p.n - 1 do
  out:append("rows", { step = i })
  print("appended " .. i)
end
out:close()
LUA
# rows FILE RUN: rows of /runs/RUN/rows, -1 unless row i holds step i
rows() {
    $PY - "$1" "$2" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    d = f["runs/%s/rows" % sys.argv[2]][:]
print(len(d) if all(r["step"] == i for i, r in enumerate(d)) else -1)
PY
}

for locking in FALSE TRUE; do
    export HDF5_USE_FILE_LOCKING=$locking
    R=$TMP/shared_$locking.h5
    expect_ok "locking $locking: run 1" -- "$QSCOPE" run "$S" out="$R" n=3 --threads 1
    "$QSCOPE" run "$S" out="$R" n=100000000 --threads 1 > "$TMP/a.out" 2> "$TMP/a.err" &
    pid=$!
    for _ in $(seq 1 600); do
        [ "$(grep -c '^appended ' "$TMP/a.out" 2>/dev/null)" -ge 20 ] && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    check "locking $locking: the first writer is appending" kill -0 $pid
    host=$(hostname)
    expect_fail "locking $locking: a second Lua writer" \
        "shared_$locking\.h5: another qscope is writing to it \(pid $pid on $host since [0-9T:Z-]+: .*qscope run .*out=$R" \
        -- "$QSCOPE" run "$S" out="$R" n=5 --threads 1
    expect_fail "locking $locking: profile -o on the same file" "another qscope is writing to it \(pid $pid " \
        -- "$QSCOPE" profile "$M" "$TXT" --tokens 64 --ctx 64 --threads 1 -o "$R"
    if [ $locking = FALSE ]; then
        kill -KILL $pid  # the kernel releases the lock; the stale lock file is harmless
    else
        kill -TERM $pid
    fi
    wait $pid 2>/dev/null
    before=$(grep -c '^appended ' "$TMP/a.out")
    got=$(rows "$R" 2)
    check "locking $locking: every row of the first writer is there ($got, reported $before)" \
        [ "$got" -ge "$before" -a "$got" -le $((before + 1)) ]
    check "locking $locking: run 1 intact" [ "$(rows "$R" 1)" = 3 ]
    expect_ok "locking $locking: a new writer once the first is gone" -- "$QSCOPE" run "$S" out="$R" n=4 --threads 1
    check "locking $locking: run 3 written" [ "$(rows "$R" 3)" = 4 ]
    check "locking $locking: no lock file left" [ ! -e "$R.lock" ]
done

# another program holds the file open for writing, with HDF5's locking on
export HDF5_USE_FILE_LOCKING=TRUE
H=$TMP/held.h5
expect_ok "run 1 of the held file" -- "$QSCOPE" run "$S" out="$H" n=2 --threads 1
$PY -c 'import sys, time, h5py; f = h5py.File(sys.argv[1], "a"); print("open", flush=True); time.sleep(60)' "$H" > "$TMP/py.out" 2>&1 &
py=$!
for _ in $(seq 1 100); do grep -q open "$TMP/py.out" && break; sleep 0.1; done
before=$(sha256sum < "$H")
expect_fail "file held open by h5py" "held\.h5: is open for writing in another program that holds HDF5's file lock" \
    -- "$QSCOPE" run "$S" out="$H" n=2 --threads 1
kill $py; wait $py 2>/dev/null
check "held file unchanged" [ "$(sha256sum < "$H")" = "$before" ]
summary
