# Results and checkpoints under a full disk and a file-size limit (issue 12, items 1 and 2).
#
# Disk full, for real: as root (where mounting works) the test re-runs itself in a private
# mount namespace (unshare -m, so nothing stays mounted whatever happens) on a 4 MiB tmpfs
# filled to a few bytes below full. Otherwise that part is skipped with a note and the
# file-size limit (ulimit -f), which needs no privilege, stands in for it.
#  - profile -o, eval -o, sweep -o and a Lua qs.results run, opening an existing results file
#    with 0 to 400 KiB left: non-zero exit with "disk full ... nothing written" (or the row
#    that did not fit), never a crash or SIGXFSZ; every object of the file stays readable by
#    h5py, the earlier runs byte-for-byte equal to what they were; the file takes a new run
#    once there is room again.
#  - under `ulimit -f` just above the file: the same commands are refused at the open with
#    "file size limit reached ... nothing written" and the file is unchanged byte for byte.
#  - synth, plant and m:save on a full disk or past a file-size limit: a message with the
#    cause, no `*.tmpXXXXXX` or partial file, an existing target left as it was; SIGTERM in
#    the middle of synth leaves no temporary file either.
if [ "$(id -u)" = 0 ] && [ -z "${QS_DISK_NS:-}" ] && unshare -m --propagation private true 2>/dev/null
then
    QS_DISK_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$QS_ROOT/tests/lib/common.sh"
PY=/usr/bin/python3
M=$QS_ROOT/data/models/stories260K.bin
TXT=$QS_ROOT/data/text/tinystories_v2_valid_head100.txt
S=$TMP/rows.lua
cat > "$S" <<'LUA'
local p = declare_params{ out = "", n = 10, save = "", model = "" }
if p.save ~= "" then
  qs.model(p.model):save(p.save)
  return
end
local out = qs.results(p.out)
for i = 0, p.n - 1 do
  out:append("rows", { step = i, note = string.rep("x", 100) .. i })
end
out:close()
LUA
# digest FILE RUN: a hash of everything under /runs/RUN (data and attributes), after
# reading every object of the whole file (fails if any cannot be read)
digest() {
    $PY - "$1" "$2" <<'PY'
import sys, hashlib, h5py, numpy as np
fn, run = sys.argv[1], sys.argv[2]
h = hashlib.sha256()
with h5py.File(fn, "r") as f:
    def visit(name, o):
        a = {k: repr(v) for k, v in o.attrs.items() if k != "end_time"}
        d = o[()] if isinstance(o, h5py.Dataset) else None
        if name == "runs/" + run or name.startswith("runs/" + run + "/"):
            h.update(name.encode()); h.update(repr(sorted(a.items())).encode())
            if d is not None: h.update(np.ascontiguousarray(d).tobytes())
    f.visititems(visit)
    print(h.hexdigest()[:16], len(f["runs"]))
PY
}
sum() { sha256sum < "$1"; }
# writers CMD... : the four ways of appending a run, each with OUT as its results file
writers() {
    local out=$1
    W_NAMES=(profile eval sweep lua)
    W_CMDS=(
        "$QSCOPE profile $M $TXT --tokens 128 --ctx 64 --threads 1 -o $out"
        "$QSCOPE eval $M $TXT --ctx 64 --max-tokens 64 --config W8A8 --threads 1 -o $out"
        "$QSCOPE sweep $M --bits 8 --gran tensor --clip absmax --threads 1 -o $out"
        "$QSCOPE run $S out=$out n=2000 --threads 1"
    )
}
# no temporary or partial checkpoint beside TARGET
no_leftovers() { ! ls "$1".tmp* >/dev/null 2>&1; }

# ---- file-size limit: refused at the open, file untouched ------------------------------------
F=$TMP/limit.h5
expect_ok "first run" -- "$QSCOPE" profile "$M" "$TXT" --tokens 128 --ctx 64 --threads 1 -o "$F"
writers "$F"
for i in 0 1 2 3; do
    before=$(sum "$F")
    kb=$(( $(stat -c %s "$F") / 1024 + 8 ))   # 8 KiB above the file: less than a run needs
    ( ulimit -f $kb; exec ${W_CMDS[$i]} ) > "$TMP/out" 2> "$TMP/err"
    rc=$?
    check "ulimit -f, ${W_NAMES[$i]}: non-zero exit without a crash ($rc)" [ $rc -ne 0 -a $rc -lt 128 ]
    no_sanitizer_report "$TMP/err" "ulimit -f ${W_NAMES[$i]}" && ok
    if grep -qE "limit\.h5: file size limit reached \(RLIMIT_FSIZE $((kb * 1024)) bytes.*nothing written" "$TMP/err"
    then ok; else bad "ulimit -f, ${W_NAMES[$i]}: message"; cat "$TMP/err" >&2; fi
    check "ulimit -f, ${W_NAMES[$i]}: file unchanged" [ "$(sum "$F")" = "$before" ]
done
check "no lock file left" [ ! -e "$F.lock" ]

# ---- checkpoints past a file-size limit: a message, nothing left behind ----------------------
C=$TMP/ck
mkdir -p "$C"
expect_fail "synth past ulimit -f" "s\.bin: write failed: File too large" -- \
    bash -c "ulimit -f 64; exec $QSCOPE synth -o $C/s.bin --dim 64 --hidden 128 --layers 2 --heads 4 --kv-heads 4 --vocab 512 --seq 64"
check "synth: no partial file" [ ! -e "$C/s.bin" ]
check "synth: no temporary file" no_leftovers "$C/s.bin"
echo "an earlier checkpoint" > "$C/p.bin"
before=$(sum "$C/p.bin")
expect_fail "plant past ulimit -f" "p\.bin: write failed: File too large" -- \
    bash -c "ulimit -f 200; exec $QSCOPE plant $M -o $C/p.bin --plant ffn_in:1:3:10"
check "plant: the existing target is unchanged" [ "$(sum "$C/p.bin")" = "$before" ]
check "plant: no temporary file" no_leftovers "$C/p.bin"
expect_fail "m:save past ulimit -f" "m:save: .*ms\.bin: write failed: File too large" -- \
    bash -c "ulimit -f 200; exec $QSCOPE run $S model=$M save=$C/ms.bin --threads 1"
check "m:save: no partial file" [ ! -e "$C/ms.bin" ]
check "m:save: no temporary file" no_leftovers "$C/ms.bin"
# SIGTERM while synth writes a 160 MB checkpoint: the temporary file goes with the process
"$QSCOPE" synth -o "$C/big.bin" --dim 1024 --hidden 4096 --layers 8 --heads 8 --kv-heads 8 \
    --vocab 4096 --seq 64 > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 200); do ls "$C"/big.bin.tmp* >/dev/null 2>&1 && break; sleep 0.05; done
check "synth started writing" ls "$C"/big.bin.tmp* > /dev/null
kill -TERM $pid
wait $pid
rc=$?
check "synth ended by SIGTERM ($rc)" [ $rc -eq 143 ]
check "SIGTERM: no temporary file" no_leftovers "$C/big.bin"
check "SIGTERM: no checkpoint" [ ! -e "$C/big.bin" ]

# ---- a full disk, for real ---------------------------------------------------------------------
D=$TMP/disk
mkdir -p "$D"
if [ -n "${QS_DISK_NS:-}" ] && mount -t tmpfs -o size=4m tmpfs "$D" 2>/dev/null; then
    R=$D/r.h5
    expect_ok "run 1 on the small disk" -- "$QSCOPE" profile "$M" "$TXT" --tokens 128 --ctx 64 --threads 1 -o "$R"
    ref=$(digest "$R" 1)
    check "run 1 readable ($ref)" [ -n "$ref" ]
    writers "$R"
    # fill FREE: leave FREE bytes free on the tmpfs
    fill() {
        rm -f "$D/fill"
        local avail; avail=$(df --output=avail -B1 "$D" | tail -1)
        head -c $(( avail > $1 ? avail - $1 : 0 )) /dev/zero > "$D/fill" 2>/dev/null
    }
    for free in 0 49152 131072 409600; do
        for i in 0 1 2 3; do
            fill $free
            ${W_CMDS[$i]} > "$TMP/out" 2> "$TMP/err"
            rc=$?
            name="disk full ($free bytes free), ${W_NAMES[$i]}"
            check "$name: exit status $rc (no crash)" [ $rc -lt 128 ]
            no_sanitizer_report "$TMP/err" "$name" && ok
            if [ $rc -ne 0 ]; then
                if grep -qE "r\.h5: .*disk full \([0-9]+ bytes free, this write may need [0-9]+\).*nothing written" "$TMP/err"
                then ok; else bad "$name: message"; cat "$TMP/err" >&2; fi
            fi
            got=$(digest "$R" 1)
            check "$name: every object readable, run 1 intact ($got)" [ "${got% *}" = "${ref% *}" ]
        done
    done
    rm -f "$D/fill"
    n_before=$(digest "$R" 1); n_before=${n_before#* }
    expect_ok "a new run once there is room" -- "$QSCOPE" run "$S" out="$R" n=5 --threads 1
    n_after=$(digest "$R" 1); n_after=${n_after#* }
    check "one more run ($n_before -> $n_after)" [ "$n_after" = $((n_before + 1)) ]
    check "no lock file left on the disk" [ ! -e "$R.lock" ]
    # checkpoints on a full disk
    fill 8192
    expect_fail "synth on a full disk" "s\.bin: write failed: No space left on device" -- \
        "$QSCOPE" synth -o "$D/s.bin" --dim 64 --hidden 128 --layers 2 --heads 4 --kv-heads 4 --vocab 512 --seq 64
    check "synth, full disk: nothing left" [ ! -e "$D/s.bin" ]
    check "synth, full disk: no temporary file" no_leftovers "$D/s.bin"
    expect_fail "plant on a full disk" "p\.bin: write failed: No space left on device" -- \
        "$QSCOPE" plant "$M" -o "$D/p.bin" --plant ffn_in:1:3:10
    check "plant, full disk: no temporary file" no_leftovers "$D/p.bin"
    expect_fail "m:save on a full disk" "ms\.bin: write failed: No space left on device" -- \
        "$QSCOPE" run "$S" model="$M" save="$D/ms.bin" --threads 1
    check "m:save, full disk: no temporary file" no_leftovers "$D/ms.bin"
    umount "$D"
else
    echo "test_disk_full: no tmpfs here (needs root and mount namespaces); the full-disk" \
         "cases are skipped, the file-size limit cases above stand in for them" >&2
fi
summary
