# Bad input to qscope eval and qscope sweep: each a non-zero exit (no crash) with one clear
# message naming the field that is wrong.
. "$QS_ROOT/tests/lib/common.sh"
M="$QS_ROOT/data/models/stories260K.bin"
T="$QS_ROOT/data/text/tinystories_v2_valid_head100.txt"
E=("$QSCOPE" eval "$M" "$T" --max-tokens 64 --ctx 64 --threads 1)
# configs
expect_fail "unparseable config" "expected W<bits>A<bits>.*'X8A8'" -- "${E[@]}" --config "X8A8"
expect_fail "empty config" "empty config" -- "${E[@]}" --config ""
expect_fail "unknown word" "unknown word 'per-tok'" -- "${E[@]}" --config "W8A8 per-tok"
expect_fail "bits 1" "bits 1 in 'W1A16'.*2\.\.16" -- "${E[@]}" --config "W1A16"
expect_fail "bits 17" "bits 17 in 'W17A16'" -- "${E[@]}" --config "W17A16"
expect_fail "bits 12" "bits 12 in 'W16A12'.*2\.\.8" -- "${E[@]}" --config "W16A12"
expect_fail "group 0" "zero group size 'g0'" -- "${E[@]}" --config "W4A16 g0"
expect_fail "percentile 0" "percentile outside \(0, 100\] 'percentile:0'" -- "${E[@]}" --config "W16A8 percentile:0"
expect_fail "percentile 100.1" "percentile outside \(0, 100\] 'percentile:100.1'" -- "${E[@]}" --config "W16A8 percentile:100.1"
expect_fail "percentile text" "bad percentile 'percentile:abc'" -- "${E[@]}" --config "W16A8 percentile:abc"
expect_fail "unknown site" "sites:foo.*unknown site 'foo'" -- "${E[@]}" --config "W16A8 sites:foo"
expect_fail "activation layer out of range" "layers: layer 5 does not exist \(the model has 5: 0\.\.4\)" -- "${E[@]}" --config "W16A8 layers:5"
expect_fail "weight layer out of range" "layers: layer 9 does not exist" -- "${E[@]}" --config "W4A16 layers:1,9"
expect_fail "mse dynamic" "conflicts with mse" -- "${E[@]}" --config "W16A8 a:mse dynamic"
expect_fail "conflict" "'w:g128' conflicts with 'per-tensor'" -- "${E[@]}" --config "W4A8 per-tensor w:g128"
expect_fail "no config" "--config" -- "${E[@]}"
# options
expect_fail "attribute" "--attribute 'heads'" -- "${E[@]}" --config "W8A8" --attribute heads
expect_fail "calib windows" "--calib-windows" -- "${E[@]}" --config "W8A8 static" --calib-windows 0
expect_fail "missing calib text" "nosuch\.txt" -- "${E[@]}" --config "W8A8 static" --calib "$TMP/nosuch.txt"
expect_fail "output dir missing" "$TMP/nodir" -- "${E[@]}" --config "W8A8" -o "$TMP/nodir/r.h5"
expect_fail "table name" "table name 'a/b'" -- "${E[@]}" --config "W8A8" -o "$TMP/r.h5" --name a/b
echo "not hdf5" > "$TMP/text.h5"
expect_fail "output not hdf5" "text\.h5" -- "${E[@]}" --config "W8A8" -o "$TMP/text.h5"
check "non-HDF5 output left untouched" test "$(cat "$TMP/text.h5")" = "not hdf5"

S=("$QSCOPE" sweep "$M" --threads 1)
expect_fail "sweep bits 9" "--bits: '9' is not a bit width in 2\.\.8" -- "${S[@]}" --bits 8,9
expect_fail "sweep bits 1" "--bits: '1'" -- "${S[@]}" --bits 1
expect_fail "sweep group 0" "--gran: 'group:0': group size" -- "${S[@]}" --gran tensor,group:0
expect_fail "sweep granularity" "--gran: unknown granularity 'rows'" -- "${S[@]}" --gran rows
expect_fail "sweep percentile 0" "--clip: percentile 'percentile:0' outside \(0, 100\]" -- "${S[@]}" --clip percentile:0
expect_fail "sweep percentile 101" "--clip: percentile 'percentile:101'" -- "${S[@]}" --clip percentile:101
expect_fail "sweep clip" "--clip: unknown clip 'minmax'" -- "${S[@]}" --clip minmax
expect_fail "sweep scheme" "--scheme: unknown scheme 'asym'" -- "${S[@]}" --scheme asym
expect_fail "sweep site" "--sites.*unknown site 'mlp'" -- "${S[@]}" --sites attn_in,mlp
expect_fail "sweep targets" "--targets 'grads'" -- "${S[@]}" --targets grads
expect_fail "sweep activations without text" "needs TEXT" -- "${S[@]}" --targets activations
expect_fail "sweep tokens" "--tokens '0'" -- "${S[@]}" "$T" --tokens 0
expect_fail "sweep no model" "expected MODEL" -- "$QSCOPE" sweep
summary
