-- seed_speed.lua: the seed's last section as verdicts, measured on this machine (like
-- seed_claims.lua): why smaller weights sometimes mean faster and sometimes do not.
-- qs.bench_speed measures decode (one token after a KV cache) and prefill (one window) per
-- weight format and path, against the sgemm peak and read bandwidth measured in the same
-- run; each claim prints what was measured, the threshold fixed beforehand, and HOLDS or
-- DOES NOT HOLD. Rows go to results/seed_speed.h5 (label seed_speed): claims (claim,
-- measurement, value, threshold, holds), speed (the bench's rows) and limits (one row).
--
--   build/qscope bench --speed --formats f32 --phases decode --reps 1   # writes the default model
--   build/qscope run experiments/seed_speed.lua [model=...] [reps=3] [out=...]
-- The default model is the Llama-2-7B shape with 2 layers that `qscope bench --speed` writes
-- under /tmp (qscope synth -o /tmp/qscope-speed-llama2-7b-2l.gguf --format gguf --shape
-- llama2-7b --layers 2). Timings are best-of-reps wall seconds on a shared machine.
local p = declare_params{
    model = "/tmp/qscope-speed-llama2-7b-2l.gguf",
    out = "results/seed_speed.h5",
    reps = 3,
    decode_tokens = 8,
    kv = 256,
    prefill_tokens = 512,
    gib = 1.0,              -- bandwidth arrays, GiB
    int4 = "int4 g128",     -- the 4-bit format of claims 2-4
    w8 = "int8 per-channel" -- the W8A8 format of claim 5 (int8dot: int8 activations per block)
}

local m = qs.model(p.model)
local info = m:info()
print(string.format("== %s: dim %d, hidden %d, %d layers, vocab %d", p.model, info.dim,
    info.hidden_dim, info.n_layers, info.vocab_size))
local r = qs.bench_speed{ model = m, formats = { "f32", "bf16", p.int4, p.w8 },
                          reps = p.reps, decode_tokens = p.decode_tokens, kv = p.kv,
                          prefill_tokens = p.prefill_tokens, gib = p.gib }
local lim = r.limits
print(string.format("== limits: sgemm %.1f GFLOP/s, read bandwidth %.1f GB/s (triad %.1f); int8dot kernel %s",
    lim.sgemm_gflops, lim.bandwidth_gbs, lim.triad_gbs, r.int8dot_kernel))

local out <close> = qs.results(p.out, { label = "seed_speed" })
out:append("limits", { sgemm_gflops = lim.sgemm_gflops, bandwidth_gbs = lim.bandwidth_gbs,
                        triad_gbs = lim.triad_gbs })
local rows = {}
for _, row in ipairs(r.rows) do
    out:append("speed", row)
    rows[row.format .. "|" .. row.path .. "|" .. row.phase] = row
    print(string.format("   %-18s %-8s %-8s %9.3f tok/s  %7.2f GB/s (%.2f of bandwidth)  %8.2f GFLOP/s (%.3f of sgemm)",
        row.format, row.path, row.phase, row.tokens_per_s, row.gbs, row.bandwidth_fraction, row.gflops,
        row.peak_fraction))
end
local function row(format, path, phase)
    return rows[format .. "|" .. path .. "|" .. phase]
        or error(string.format("seed_speed: no %s %s %s row", format, path, phase))
end

local function fmt(v)
    if v ~= v then return "n/a" end
    if math.abs(v) >= 1e5 or (v ~= 0 and math.abs(v) < 1e-3) then return string.format("%.4g", v) end
    return string.format("%.4f", v)
end

local names, verdicts = {}, {}
local function claim(i, name, statement, how, checks)
    names[i] = name
    print(string.format("\n== claim %d: %s", i, name))
    print("   claim:    " .. statement)
    print("   measured: " .. how)
    local all = true
    for _, c in ipairs(checks) do
        out:append("claims", { claim = name, measurement = c[1], value = c[2], threshold = c[3], holds = c[4] })
        print(string.format("   %-62s %12s  %-10s %s", c[1], fmt(c[2]), c[3], c[4] and "yes" or "no"))
        all = all and c[4]
    end
    out:append("claims", { claim = name, measurement = "verdict", value = all and 1 or 0,
                           threshold = "all above", holds = all })
    verdicts[i] = all
    print("   => " .. (all and "HOLDS" or "DOES NOT HOLD"))
end

-- 1. decode reads every weight once per token: memory-bound, the compute units mostly idle
local worst_util, util_of = 0, ""
for _, x in ipairs(r.rows) do
    if x.phase == "decode" and x.path == "fused" and x.peak_fraction > worst_util then
        worst_util, util_of = x.peak_fraction, x.format
    end
end
local f32d = row("f32", "fused", "decode")
claim(1, "decode is memory-bound",
    "one token reads every weight once; its GFLOP/s are a few percent of the compute peak",
    string.format("fused decode rows: the highest fraction of the sgemm peak (%s); f32 decode's GB/s over the read bandwidth",
        util_of),
    { { "highest decode GFLOP/s / sgemm peak (fused)", worst_util, "< 0.05", worst_util < 0.05 },
      { "f32 decode weight GB/s / read bandwidth", f32d.bandwidth_fraction, ">= 0.5", f32d.bandwidth_fraction >= 0.5 } })

-- 2. fused 4-bit decode is faster than bf16 by close to the byte ratio
local bf = row("bf16", "fused", "decode")
local i4 = row(p.int4, "fused", "decode")
local byte_ratio = bf.weight_bytes_per_token / i4.weight_bytes_per_token
local speed_ratio = i4.tokens_per_s / bf.tokens_per_s
local weights = 0
for _, x in ipairs(r.formats) do
    if x.format == p.int4 then weights = x.weight_bytes_per_token end
end
claim(2, "fused 4-bit decode is faster than bf16 by close to the byte ratio",
    "weights expanded in registers cost no extra traffic, so tokens/s scale with bytes per token",
    string.format("%s fused decode tokens/s over bf16's (bytes per token %.3g vs %.3g: ratio %.2f); "
        .. "%s streams %.2f GB/s = %.2f of the bandwidth", p.int4, i4.weight_bytes_per_token,
        bf.weight_bytes_per_token, byte_ratio, p.int4, i4.gbs, i4.bandwidth_fraction),
    { { "speed ratio / byte ratio", speed_ratio / byte_ratio, ">= 0.7", speed_ratio / byte_ratio >= 0.7 },
      { "speed ratio " .. p.int4 .. " / bf16", speed_ratio, "> 1", speed_ratio > 1 } })
if speed_ratio / byte_ratio < 0.7 then
    print(string.format("   note: %s decode moves %.2f GB/s, %.2f of the bandwidth: the cores expand the "
        .. "codes more slowly than memory delivers them (compute-bound on dequantization)",
        p.int4, i4.gbs, i4.bandwidth_fraction))
end

-- 3. the naive implementation expands to f32 in memory first and gains nothing
local i4n = row(p.int4, "naive", "decode")
claim(3, "naive 4-bit decode is no faster than bf16",
    "expanding the whole matrix to f32 in memory pays full-width traffic again",
    string.format("%s naive decode tokens/s over bf16 fused decode's", p.int4),
    { { "naive " .. p.int4 .. " / bf16 decode tokens/s", i4n.tokens_per_s / bf.tokens_per_s, "<= 1.1",
        i4n.tokens_per_s / bf.tokens_per_s <= 1.1 } })

-- 4. prefill reuses each weight across the window: compute-bound, little to gain from bytes
local f32p = row("f32", "fused", "prefill")
local i4p = row(p.int4, "fused", "prefill")
claim(4, "prefill gains little from weight-only formats",
    "a window of tokens reuses every weight; the FLOPs, not the bytes, set its speed",
    string.format("%s prefill tokens/s over f32's (window %d); f32 prefill's fraction of the sgemm peak",
        p.int4, p.prefill_tokens),
    { { p.int4 .. " / f32 prefill tokens/s", i4p.tokens_per_s / f32p.tokens_per_s, "<= 1.25",
        i4p.tokens_per_s / f32p.tokens_per_s <= 1.25 },
      { "f32 prefill GFLOP/s / sgemm peak", f32p.peak_fraction, ">= 0.5", f32p.peak_fraction >= 0.5 } })

-- 5. activation quantization is what speeds prefill up: integer dot products
local w8p = row(p.w8, "int8dot", "prefill")
claim(5, "W8A8 prefill is faster than f32",
    "int8 activations times int8 weights run on the integer dot-product units",
    string.format("%s weights with int8 activations (int8dot, %s) against f32 prefill", p.w8, r.int8dot_kernel),
    { { "W8A8 / f32 prefill tokens/s", w8p.tokens_per_s / f32p.tokens_per_s, "> 1",
        w8p.tokens_per_s / f32p.tokens_per_s > 1 } })

print(string.format("\n== summary (%s)", p.model))
local n = 0
for i, name in ipairs(names) do
    print(string.format("   %d %-62s %s", i, name, verdicts[i] and "HOLDS" or "DOES NOT HOLD"))
    if verdicts[i] then n = n + 1 end
end
print(string.format("   %d of %d claims hold on this machine", n, #names))
print(string.format("results: %s (run %d: claims, speed)", p.out, out:run()))
