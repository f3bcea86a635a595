# Lua results and writes from scripts (issue 12, items 4, 12 and 15):
#  - out:append with a non-string key ([true] = 3, [1] = 2) on an existing table or a new
#    one is an error naming the key's type (it crashed in strcmp);
#  - a table name of 200 bytes takes 100 rows (names over 127 bytes failed at the 65th
#    row); a column or table name that is not UTF-8, and a string or name with a NUL byte,
#    are refused with a message instead of writing a file h5py cannot read or cutting the
#    string; the file stays readable by h5py throughout;
#  - a script may replace (m:save) or append to (qs.results) an existing file only when the
#    command line gave it, the script created it, or (qs.results) it already holds qscope
#    results; a symbolic link does not get around that; a results file whose /runs is an
#    external or soft link is refused and the file it points to is left untouched.
. "$QS_ROOT/tests/lib/common.sh"
PY=/usr/bin/python3
M=$QS_ROOT/data/models/stories260K.bin
cd "$TMP"
# run NAME PATTERN LUA [params...] : the script must fail with PATTERN
run_fail() {
    local name=$1 pattern=$2 code=$3; shift 3
    printf '%s\n' "$code" > "$TMP/s.lua"
    expect_fail "$name" "$pattern" -- "$QSCOPE" run "$TMP/s.lua" "$@" --threads 1
}
run_ok() {
    local name=$1 code=$2; shift 2
    printf '%s\n' "$code" > "$TMP/s.lua"
    expect_ok "$name" -- "$QSCOPE" run "$TMP/s.lua" "$@" --threads 1
}
readable() { # FILE: every object of it reads back with h5py
    $PY -c '
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    f.visititems(lambda n, o: (o[()] if isinstance(o, h5py.Dataset) else None, dict(o.attrs)) and None)
' "$1"
}

# ---- item 4: keys that are not column names --------------------------------------------------
R=$TMP/r.h5
run_fail "boolean key on an existing table" "out:append: row keys must be column names \(strings\), got a boolean key" '
local out = qs.results("r.h5")
out:append("t", { a = 1 })
out:append("t", { a = 2, [true] = 3 })'
run_fail "number key on an existing table" "got a number key" '
local out = qs.results("r.h5")
out:append("t", { a = 1 })
out:append("t", { a = 2, [7] = 3 })'
run_fail "boolean key in a first row" "got a boolean key" '
qs.results("r.h5"):append("t2", { a = 1, [false] = 3 })'
check "r.h5 readable after the refusals" readable "$R"

# ---- item 15: long names, non-UTF-8 names, NUL bytes -----------------------------------------
run_ok "a 200-byte table name takes 100 rows" '
local out = qs.results("r.h5")
local name = string.rep("n", 200)
for i = 1, 100 do out:append(name, { i = i }) end
out:close()'
check "100 rows under the long name" $PY -c '
import sys, h5py
with h5py.File("r.h5", "r") as f:
    run = f["runs"][str(f["runs"].attrs["latest"])]
    d = run["n" * 200][:]
    assert list(d["i"]) == list(range(1, 101)), d'
run_fail "non-UTF-8 column name" "out:append: .*r\.h5: a column name is not valid UTF-8 \(byte 1\)" '
qs.results("r.h5"):append("t", { ["a\xff"] = 1 })'
run_fail "non-UTF-8 table name" "r\.h5: object path is not valid UTF-8 \(byte 2\)" '
qs.results("r.h5"):append("ok\xc3(", { a = 1 })'
run_fail "non-UTF-8 attribute value" "string attribute value is not valid UTF-8" '
qs.results("r.h5"):attr("g", "k", "\xed\xa0\x80")'
run_fail "NUL in a string value" "out:append: value of 'label' holds a NUL byte at offset 3" '
qs.results("r.h5"):append("t", { label = "abc\0def" })'
run_fail "NUL in a column name" "column name 'ab\.\.\.' has a NUL byte at offset 2" '
qs.results("r.h5"):append("t", { ["ab\0c"] = 1 })'
run_fail "NUL in a table name" "out:append: value of 'path' holds a NUL byte at offset 1" '
qs.results("r.h5"):append("t\0u", { a = 1 })'
check "r.h5 readable by h5py after every refusal" readable "$R"

# ---- item 12: where a script may write -------------------------------------------------------
echo "precious" > "$TMP/keep.txt"
ln -s "$TMP/keep.txt" "$TMP/link.bin"
before=$(sha256sum < "$TMP/keep.txt")
run_fail "m:save over a file not given" "m:save: keep\.txt exists and was neither created by this script nor given on the command line; a script may replace only such files" "
qs.model('$M'):save('keep.txt')"
run_fail "m:save through a symbolic link" "m:save: link\.bin exists and was neither created" "
qs.model('$M'):save('link.bin')"
check "keep.txt untouched" [ "$(sha256sum < "$TMP/keep.txt")" = "$before" ]
run_ok "m:save over a file given on the command line" "
local p = declare_params{ out = '' }
qs.model('$M'):save(p.out)" out=keep.txt
check "the given file was replaced by a checkpoint" [ "$(stat -c %s "$TMP/keep.txt")" -gt 100000 ]
run_ok "m:save twice to a file the script created" "
local m = qs.model('$M')
m:save('new.bin')
m:save('new.bin')"
check "no temporary file left" [ -z "$(ls "$TMP" | grep '\.tmp')" ]
# qs.results on an existing HDF5 file that is not a results file
$PY -c 'import h5py; h5py.File("data.h5", "w")["x"] = [1, 2, 3]'
before=$(sha256sum < data.h5)
run_fail "qs.results on someone's HDF5 data" "qs.results: data\.h5 exists, is not a qscope results file, and was neither created" '
qs.results("data.h5")'
check "data.h5 untouched" [ "$(sha256sum < data.h5)" = "$before" ]
run_ok "qs.results on it when given" '
local p = declare_params{ out = "" }
qs.results(p.out):close()' out=data.h5
run_ok "qs.results on an existing results file" 'qs.results("r.h5"):close()'
# /runs as an external or soft link
cp r.h5 target.h5
$PY -c '
import h5py
with h5py.File("ext.h5", "w") as f: f["runs"] = h5py.ExternalLink("target.h5", "/runs")
with h5py.File("soft.h5", "w") as f:
    f.create_group("elsewhere"); f["runs"] = h5py.SoftLink("/elsewhere")'
tsum=$(sha256sum < target.h5)
for f in ext soft; do
    before=$(sha256sum < $f.h5)
    kind=$([ $f = ext ] && echo "n external" || echo " soft")
    expect_fail "/runs as a$kind link" "$f\.h5: /runs is a$kind link, not a group of this file; refusing to write through it" \
        -- "$QSCOPE" profile "$M" "$QS_ROOT/data/text/tinystories_v2_valid_head100.txt" --tokens 64 --ctx 64 -o $f.h5
    check "$f.h5 untouched" [ "$(sha256sum < $f.h5)" = "$before" ]
done
check "the external link's target untouched" [ "$(sha256sum < target.h5)" = "$tsum" ]
summary
