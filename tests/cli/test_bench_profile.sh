# qscope bench --profile on stories260K: the profiled forward runs, its statistics go to a
# background thread exactly when the forward leaves a core idle (two or more threads, a
# model this small, no address-space limit) and to the hook otherwise, and both report
# the overheads and the statistics' memory (the worker's slots included). No timing is
# asserted, only that the figures exist and are finite.
. "$QS_ROOT/tests/lib/common.sh"
M=$QS_ROOT/data/models/stories260K.bin
fields() {
    /usr/bin/python3 - "$1" <<'PY'
import json, math, sys
d = json.load(open(sys.argv[1]))
ok = all(math.isfinite(d[k]) for k in ("profile_seconds", "profile_overhead", "profile_overhead_cpu"))
print(int(ok), int(d["profile_stats_thread"]), int(d["profile_stats_bytes"]))
PY
}
expect_ok "bench --profile, 2 threads" -- "$QSCOPE" bench --model "$M" --ctx 64 --reps 1 --profile --threads 2 --json
cp "$TMP/out" "$TMP/two.json"
read fin2 bg2 bytes2 < <(fields "$TMP/two.json")
check "2 threads: the figures are finite" [ "$fin2" = 1 ]
check "2 threads: statistics on the background thread" [ "$bg2" = 1 ]
expect_ok "bench --profile, 1 thread" -- "$QSCOPE" bench --model "$M" --ctx 64 --reps 1 --profile --threads 1 --json
cp "$TMP/out" "$TMP/one.json"
read fin1 bg1 bytes1 < <(fields "$TMP/one.json")
check "1 thread: the figures are finite" [ "$fin1" = 1 ]
check "1 thread: statistics in the hook" [ "$bg1" = 0 ]
# 8 slots of the widest site (ffn_down_in, 172 wide) at T = 64
check "the worker's slots in the memory ($bytes1 -> $bytes2)" [ $((bytes2 - bytes1)) = $((8 * 64 * 172 * 4)) ]
case "${QS_SANITIZE:-0}" in 1|ON|on|TRUE|true) ;; *)
    ( ulimit -v $((1024 << 10)); exec "$QSCOPE" bench --model "$M" --ctx 64 --reps 1 --profile \
        --threads 2 --json ) > "$TMP/lim.json" 2> "$TMP/err"
    check "under ulimit -v: runs" [ $? = 0 ]
    read finl bgl bytesl < <(fields "$TMP/lim.json")
    check "under ulimit -v: statistics in the hook" [ "$bgl" = 0 ]
esac
summary
