-- formats_kv.lua: floating-point and microscaling formats, KV-cache quantization, and the
-- attention behind the outliers, on the shipped model and on a planted copy.
--
--  1. INT vs FP8 vs MXFP4 vs NVFP4 at the seed's collapse configurations (activations at
--     8 bits per tensor, activations and weights at 4 bits): PPL and KLD, original and planted.
--  2. What quantizing the KV cache costs per scheme (applied as the cache is written).
--  3. Key-channel persistence: how often each token's largest |key| sits in the same channel,
--     against the values (the reason KIVI quantizes keys per channel).
--  4. The attention-sink table: per layer the sink heads, BOS mass and entropy, and the heads
--     that sink on the massive tokens.
-- Everything lands in results/formats_kv.h5; draw it with
--   scripts/figures results/formats_kv.h5 -o results/figures
--
--   build/qscope run experiments/formats_kv.lua [model=...] [eval_tokens=4096]
local p = declare_params{
    model = "data/models/stories260K.bin",
    text = "data/text/tinystories_v1_valid_head.txt",      -- profiling text
    eval_text = "data/text/tinystories_v2_valid_head100.txt",
    out = "results/formats_kv.h5",
    tokens = 8192,           -- profiled tokens
    eval_tokens = 4096,      -- scored tokens per evaluated config
    ctx = 256,
    plant_scale = 80,        -- factor of the planted channels (as quickstart.lua)
    kv_tokens = 256,         -- cached tokens read per layer for the key-channel persistence
}

local m = qs.model(p.model)
local info = m:info()
local txt, etxt = qs.text(p.text), qs.text(p.eval_text)
local out <close> = qs.results(p.out, { label = "formats_kv", model = m, text = etxt })
print(string.format("== %s: dim %d, %d layers, %d heads (%d kv heads, head_dim %d)",
    info.path, info.dim, info.n_layers, info.n_heads, info.n_kv_heads, info.head_dim))

local plants = {}
for l = 0, info.n_layers - 1 do
    plants[#plants + 1] = { site = "attn_in", layer = l, channel = (7 * l + 3) % info.dim, scale = p.plant_scale }
    plants[#plants + 1] = { site = "ffn_down_in", layer = l, channel = (29 * l + 11) % info.hidden_dim, scale = p.plant_scale }
end
local planted = m:plant(plants)
local models = { { name = "original", m = m }, { name = "planted", m = planted } }

local function eval_row(mm, cfg, family, target)
    local ok, r = pcall(mm.m.eval, mm.m, { config = cfg, text = etxt, ctx = p.ctx, max_tokens = p.eval_tokens })
    local row = { model = mm.name, config = cfg, family = family, target = target, ppl_q = 0, ppl_base = 0,
                  ppl_ratio = 0, kld_mean = 0, kld_p99 = 0, top1_agree = 0, w_bits_per_value = 0,
                  a_bits_per_value = 0, kv_bits_per_value = 0, error = "" }
    if ok then
        row.ppl_q, row.ppl_base, row.ppl_ratio, row.kld_mean = r.ppl_q, r.ppl_base, r.ppl_ratio, r.kld_mean
        row.kld_p99, row.top1_agree = r.kld_p99, r.top1_agree
        row.w_bits_per_value, row.a_bits_per_value = r.w_bits_per_value, r.a_bits_per_value
        row.kv_bits_per_value = r.kv_bits_per_value
    else
        row.error = tostring(r)
    end
    return row
end

local function print_rows(rows, bits_field)
    print(string.format("%-32s %-7s %8s %10s %10s %10s %10s", "config", "family", "bits/v", "PPL orig",
        "KLD orig", "PPL plant", "KLD plant"))
    for i = 1, #rows, 2 do
        local a, b = rows[i], rows[i + 1]
        if a.error == "" and b.error == "" then
            print(string.format("%-32s %-7s %8.3f %10.3f %10.4f %10.3f %10.4f", a.config, a.family,
                a[bits_field], a.ppl_q, a.kld_mean, b.ppl_q, b.kld_mean))
        else
            print(string.format("%-32s error: %s %s", a.config, a.error, b.error))
        end
    end
end

-- 1. formats at the collapse configurations -------------------------------------------------
local format_cfgs = {
    { "W16A8 per-tensor", "int", "activations" },
    { "W16A8 fp8_e4m3 per-tensor", "fp8", "activations" },
    { "W16A8 fp8_e5m2 per-tensor", "fp8", "activations" },
    { "W16A8 per-token", "int", "activations" },
    { "W16A8 fp8_e4m3 per-token", "fp8", "activations" },
    { "W16A8 mxfp8", "mx", "activations" },
    { "W16A4 per-token", "int", "activations" },
    { "W16A4 g32", "int", "activations" },
    { "W16A4 mxfp4", "mx", "activations" },
    { "W16A4 nvfp4", "nv", "activations" },
    { "W16A6 g32", "int", "activations" },
    { "W16A6 mxfp6_e2m3", "mx", "activations" },
    { "W16A6 mxfp6_e3m2", "mx", "activations" },
    { "W4A16 g32", "int", "weights" },
    { "W4A16 mxfp4", "mx", "weights" },
    { "W4A16 nvfp4", "nv", "weights" },
    { "W4A4 g32", "int", "both" },
    { "W4A4 mxfp4", "mx", "both" },
    { "W4A4 nvfp4", "nv", "both" },
}
local rows = {}
for _, c in ipairs(format_cfgs) do
    for _, mm in ipairs(models) do
        local row = eval_row(mm, c[1], c[2], c[3])
        out:append("ppl/formats", row)
        rows[#rows + 1] = row
    end
end
print(string.format("\n== 1. formats (%d scored tokens, ctx %d); full precision PPL %.3f (both models)",
    p.eval_tokens, p.ctx, rows[1].ppl_base))
print_rows(rows, "a_bits_per_value")

-- 2. the KV cache ---------------------------------------------------------------------------
local hd = info.head_dim
local kv_cfgs = {
    { "W16A16 KV8 per-token", "int" }, { "W16A16 KV8 fp8_e4m3 per-token", "fp8" },
    { "W16A16 KV4 per-token", "int" }, { "W16A16 KV4 g" .. hd, "int" },
    { "W16A16 KV4 per-channel-k", "int" }, { "W16A16 KV4 per-channel", "int" },
    { "W16A16 KV4 mxfp4", "mx" }, { "W16A16 KV4 nvfp4", "nv" },
    { "W4A16 g32 KV4 per-channel-k", "int" },
}
local kv_rows = {}
for _, c in ipairs(kv_cfgs) do
    for _, mm in ipairs(models) do
        local row = eval_row(mm, c[1], c[2], "kv")
        out:append("ppl/kv", row)
        kv_rows[#kv_rows + 1] = row
    end
end
print("\n== 2. KV-cache quantization, applied as the cache is written (g" .. hd .. " = per head)")
print_rows(kv_rows, "kv_bits_per_value")

-- 3. key-channel persistence ----------------------------------------------------------------
-- for each token, the channel of its largest |x|; persistence = the share of tokens whose
-- top channel is the layer's most frequent one (1/K if the top channel wandered at random)
local function persistence(mm, site, l)
    local a = mm.m:activations{ text = txt, site = site, layer = l, tokens = p.kv_tokens, ctx = p.ctx }
    local counts, best, best_n = {}, 0, 0
    for t = 0, a.rows - 1 do
        local arg, mx = 0, -1
        for c = 0, a.cols - 1 do
            local v = math.abs(a.values[t * a.cols + c + 1])
            if v > mx then mx, arg = v, c end
        end
        counts[arg] = (counts[arg] or 0) + 1
        if counts[arg] > best_n then best, best_n = arg, counts[arg] end
    end
    return best, best_n / a.rows, a.cols
end
print(string.format("\n== 3. top-channel persistence of the cache (%d tokens per layer; random: 1/%d)",
    p.kv_tokens, info.n_kv_heads * hd))
print(string.format("%-9s %-6s %-14s %-14s", "model", "layer", "k_cache", "v_cache"))
for _, mm in ipairs(models) do
    for l = 0, info.n_layers - 1 do
        local kc, kp, K = persistence(mm, "k_cache", l)
        local vc, vp = persistence(mm, "v_cache", l)
        out:append("kv_channels", { model = mm.name, layer = l, k_channel = kc, k_persistence = kp,
                                    v_channel = vc, v_persistence = vp, channels = K })
        print(string.format("%-9s L%-5d c%-3d %6.1f%%   c%-3d %6.1f%%", mm.name, l, kc, 100 * kp, vc, 100 * vp))
    end
end

-- 4. attention sinks (the profile run holds attention/ and the massive-token ties) -----------
local prof = m:profile{ text = txt, tokens = p.tokens, ctx = p.ctx, results = out }
local at = prof.attention
print(string.format("\n== 4. attention per layer (%d tokens; sink: mass >= %g on one of positions 0..3)",
    prof.tokens, at.sink_threshold))
print(string.format("%-6s %7s %9s %9s %9s  %s", "layer", "sinks", "BOS mass", "entropy", "max logit", "sink heads"))
for l = 1, info.n_layers do
    local bos, ent, mx, heads = 0, 0, -math.huge, {}
    for h = 1, info.n_heads do
        bos = bos + at.bos_mass[l][h] / info.n_heads
        ent = ent + at.entropy[l][h] / info.n_heads
        mx = math.max(mx, at.max_logit[l][h])
        if at.sink_mass[l][h] >= at.sink_threshold then
            heads[#heads + 1] = string.format("h%d@%d", h - 1, at.sink_position[l][h])
        end
    end
    out:append("attention_layers", { layer = l - 1, sink_fraction = at.sink_fraction[l], bos_mass = bos,
                                     entropy = ent, max_logit = mx })
    print(string.format("L%-5d %6.0f%% %9.4f %9.3f %9.2f  %s", l - 1, 100 * at.sink_fraction[l], bos, ent, mx,
        #heads > 0 and table.concat(heads, " ") or "-"))
end
print(string.format("massive tokens tied to sink heads: %d (the ratio-only massive rule: see the README)",
    #at.massive_sinks))
print(string.format("\nresults: %s, run %d; figures: scripts/figures %s -o results/figures", p.out, out:run(), p.out))
