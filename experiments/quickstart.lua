-- quickstart.lua: the main job. Profiles the shipped model, plants persistent outlier
-- channels in a copy (function unchanged), then measures what weight and activation
-- quantization cost on both: perplexity and KL divergence against full precision.
-- Everything lands in results/quickstart.h5 (one new run group per invocation).
--
--   build/qscope run experiments/quickstart.lua [model=...] [text=...] [tokens=16384]
local p = declare_params{
    model = "data/models/stories260K.bin",
    text = "data/text/tinystories_v1_valid_head.txt",     -- profiling / calibration text
    eval_text = "data/text/tinystories_v2_valid_head100.txt",
    out = "results/quickstart.h5",
    tokens = 16384,          -- profiled tokens
    eval_tokens = 4096,      -- scored tokens per evaluated config
    ctx = 256,
    plant_scale = 80,        -- factor of the planted channels
}

local m = qs.model(p.model)
local info = m:info()
local txt, etxt = qs.text(p.text), qs.text(p.eval_text)
local out = qs.results(p.out, { label = "quickstart", model = m, text = etxt })
print(string.format("== %s: %s, dim %d, hidden %d, %d layers, %d params",
    info.path, info.format, info.dim, info.hidden_dim, info.n_layers, info.params))

-- 1. where are the outliers? --------------------------------------------------------------
local prof = m:profile{ text = txt, tokens = p.tokens, ctx = p.ctx, results = out }
print("\n== profile (" .. prof.tokens .. " tokens): kurtosis per layer")
print(string.format("%-12s %s", "site", "layer 0 .. " .. (info.n_layers - 1)))
for _, site in ipairs{ "attn_in", "attn_o_in", "ffn_in", "ffn_down_in" } do
    local k = {}
    for l = 0, info.n_layers - 1 do k[#k + 1] = string.format("%7.1f", prof.kurtosis[site][l + 1]) end
    print(string.format("%-12s %s", site, table.concat(k, " ")))
end
local base_outliers = qs.outlier_channels(prof)
print(string.format("persistent outlier channels in the original model: %d", #base_outliers))

-- 2. plant one attn_in and one ffn_down_in channel in every layer --------------------------
local plants = {}
for l = 0, info.n_layers - 1 do
    plants[#plants + 1] = { site = "attn_in", layer = l, channel = (7 * l + 3) % info.dim, scale = p.plant_scale }
    plants[#plants + 1] = { site = "ffn_down_in", layer = l, channel = (29 * l + 11) % info.hidden_dim, scale = p.plant_scale }
end
local planted = m:plant(plants)
print(string.format("\n== planted %d channels (scale %g): one attn_in and one ffn_down_in channel per layer",
    #plants, p.plant_scale))

-- 3. what each choice costs ----------------------------------------------------------------
local models = { { name = "original", m = m }, { name = "planted", m = planted } }
local wcfgs, acfgs = {}, {}
for _, b in ipairs{ 8, 6, 4, 3 } do
    for _, g in ipairs{ "per-tensor", "per-channel", "g32", "g128" } do
        wcfgs[#wcfgs + 1] = string.format("W%dA16 %s", b, g)
    end
end
for _, b in ipairs{ 8, 6, 4 } do
    for _, g in ipairs{ "per-tensor", "per-token" } do acfgs[#acfgs + 1] = string.format("W16A%d %s", b, g) end
end
local summary = {}
for _, set in ipairs{ { "weights", wcfgs }, { "activations", acfgs } } do
    for _, cfg in ipairs(set[2]) do
        for _, mm in ipairs(models) do
            -- a config that cannot run on this model gives nil and a message: a row with its error
            local r, err = mm.m:eval{ config = cfg, text = etxt, ctx = p.ctx, max_tokens = p.eval_tokens }
            local row = { model = mm.name, config = cfg, target = set[1] }
            if r then
                row.ppl_q, row.ppl_base, row.ppl_ratio, row.kld_mean = r.ppl_q, r.ppl_base, r.ppl_ratio, r.kld_mean
                row.kld_p99, row.top1_agree, row.tokens = r.kld_p99, r.top1_agree, r.tokens
                row.w_bits_per_value, row.a_bits_per_value, row.error = r.w_bits_per_value, r.a_bits_per_value, ""
            else
                row.error = err
            end
            out:append("ppl/" .. set[1], row)
            summary[#summary + 1] = row
        end
    end
end

print(string.format("\n== perplexity and KL divergence (%d scored tokens, ctx %d)", p.eval_tokens, p.ctx))
print(string.format("%-24s %12s %12s %12s %12s", "config", "PPL orig", "KLD orig", "PPL planted", "KLD planted"))
for i = 1, #summary, 2 do
    local a, b = summary[i], summary[i + 1]
    if a.error == "" and b.error == "" then
        print(string.format("%-24s %12.4f %12.5f %12.4f %12.5f", a.config, a.ppl_q, a.kld_mean, b.ppl_q, b.kld_mean))
    else
        print(string.format("%-24s error: %s %s", a.config, a.error, b.error))
    end
end
print(string.format("\nfull-precision PPL: %.4f original, %.4f planted (the same function)",
    summary[1].ppl_base, summary[2].ppl_base))
local run = out:run()
out:close()

-- 4. the planted copy's profile, in a run of its own -------------------------------------
local outp <close> = qs.results(p.out, { label = "quickstart-planted", model = m, text = txt })
local pprof = planted:profile{ text = txt, tokens = p.tokens, ctx = p.ctx, results = outp }
local found = qs.outlier_channels(pprof)
local want = {}
for _, pl in ipairs(plants) do want[pl.site .. "/" .. pl.layer .. "/" .. pl.channel] = true end
local hits = 0
for _, f in ipairs(found) do if want[f.site .. "/" .. f.layer .. "/" .. f.channel] then hits = hits + 1 end end
print(string.format("\n== planted copy: detected %d persistent outlier channels, %d of the %d planted, %d others",
    #found, hits, #plants, #found - hits))
print(string.format("results: %s (run %d: original model and evaluations; run %d: planted profile)",
    p.out, run, outp:run()))
