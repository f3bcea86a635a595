-- remedies.lua: what each answer to the outliers recovers, on one protocol. The seed's
-- collapse configurations
--     W8A8 per-tensor, W6A6 per-token, W4A4 per-token, W4A16 per-tensor
-- each without a remedy and with every remedy that applies to it (core/quant/remedy_words.h):
--     smooth:A for each A of `alphas`, smooth (exponent searched), rotate, decompose:6,
--     gptq, awq
-- on the shipped model and on a planted copy (persistent outlier channels of factor
-- `scale` at attn_in and ffn_down_in in every layer: DESIGN.md's controlled experiment),
-- and on any checkpoint given as `model`. Per configuration: PPL(Q)/PPL(base) and mean KLD
-- with their standard errors, and (attribute=true) the same with the configuration applied
-- to one linear-input site at a time. Then the outlier statistics before and after each
-- function-preserving transform (m:remedy + m:profile): kurtosis and absmax per site and
-- layer.
--
--   build/qscope run experiments/remedies.lua [model=... text=... calib=... tokens=...]
--   scripts/figures results/remedies.h5      # PPL ratio per remedy, absmax before/after rotation
--
-- Writes to `out`: run n (label "remedies"): ppl/remedies (model, base, remedy, config, the
-- evaluation's numbers, error), ppl/remedies_sites (the same per site: scope site:<s>),
-- remedies/outliers (model, remedy, site, layer, kurtosis_before, kurtosis_after,
-- absmax_before, absmax_after: the whole site's) and the planted model's profile; run n+1 (label "remedies:
-- planted, rotated"): the profile of the rotated planted model, for the before/after
-- heatmaps (run n's attribute remedies/rotated_run names it).
--
-- Where this differs from the papers' protocols, README.md "Remedies" says so.
local p = declare_params{
    model = "data/models/stories260K.bin",
    tokenizer = "",
    text = "data/text/tinystories_v2_valid_head100.txt",
    calib = "data/text/tinystories_v1_valid_head.txt",  -- calibration: never the evaluation text
    calib_windows = 8,
    ctx = 128,
    tokens = 8192,            -- scored tokens per configuration (0: the whole text)
    profile_tokens = 4096,    -- tokens profiled before/after each transform
    plant = true,             -- also run the planted copy
    scale = 80,               -- the plant's factor K
    bases = "W8A8 per-tensor,W6A6 per-token,W4A4 per-token,W4A16 per-tensor",
    remedies = "none,smooth:0.5,smooth:0.85,smooth,rotate,decompose,gptq,awq",  -- smooth: searched
    attribute = true,         -- per-site rows
    transforms = "W16A8 rotate,W8A8 smooth:0.5,W8A8 smooth:0.85,W4A16 g128 awq",  -- profiled before/after
    out = "results/remedies.h5",
}

local function list(v)
    local t = {}
    for x in string.gmatch(v, "[^,]+") do t[#t + 1] = x:match("^%s*(.-)%s*$") end
    return t
end
local BASES = list(p.bases)
local REMEDIES = {}
for _, r in ipairs(list(p.remedies)) do REMEDIES[#REMEDIES + 1] = r == "none" and "" or r end
local SITES = { "attn_in", "ffn_down_in" }
local NUMBERS = { "tokens", "ppl_q", "ppl_q_stderr", "ppl_base", "ppl_ratio", "ppl_ratio_stderr", "ln_ppl_ratio",
                  "ln_ppl_ratio_stderr", "kld_mean", "kld_stderr", "kld_p99", "top1_agree", "w_bits_per_value",
                  "a_bits_per_value", "remedy_alpha", "a_wide_cols_frac", "a_wide_values_frac", "seconds" }

local m = qs.model(p.model, p.tokenizer ~= "" and { tokenizer = p.tokenizer } or nil)
local txt, cal = qs.text(p.text), qs.text(p.calib)
local models = { { name = "shipped", m = m } }
if p.plant then
    local planted = m:plant{ { site = "attn_in", layer = "all", channel = 17, scale = p.scale },
                             { site = "ffn_down_in", layer = "all", channel = 101, scale = p.scale } }
    models[#models + 1] = { name = string.format("planted x%g", p.scale), m = planted }
end
local out = qs.results(p.out, { label = "remedies", model = m, text = txt })
print(string.format("== remedies on %s: text %s, calibration %s (%d windows of %d tokens), %s scored tokens",
    p.model, p.text, p.calib, p.calib_windows, p.ctx, p.tokens > 0 and tostring(p.tokens) or "all"))

-- one evaluation: a row of ppl/remedies, and its per-site rows
local function evaluate(mod, base, remedy)
    local name = remedy == "" and base or (base .. " " .. remedy)
    local row = { model = mod.name, base = base, remedy = remedy == "" and "none" or remedy, config = name,
                  error = "" }
    for _, k in ipairs(NUMBERS) do row[k] = 0 / 0 end
    local ok, cfg = pcall(qs.config, name)
    if not ok then
        row.error = tostring(cfg)      -- e.g. decompose on A16, awq on W16: recorded, not run
        return row, {}
    end
    row.config = cfg.name
    local opts = { config = name, text = txt, ctx = p.ctx, calib = cal, calib_windows = p.calib_windows,
                   attribute = p.attribute and "sites" or nil }
    if p.tokens > 0 then opts.max_tokens = p.tokens end
    local ok2, r, msg = pcall(mod.m.eval, mod.m, opts)
    if not ok2 or r == nil then          -- raised, or nil and a message (cannot run here)
        row.error = tostring(ok2 and msg or r)
        return row, {}
    end
    for _, k in ipairs(NUMBERS) do row[k] = r[k] end
    local sites = {}
    for _, a in ipairs(r.attribution or {}) do
        local s = { model = mod.name, base = base, remedy = row.remedy, config = row.config, scope = a.scope,
                    error = "" }
        for _, k in ipairs(NUMBERS) do s[k] = a[k] end
        sites[#sites + 1] = s
    end
    return row, sites
end

local rows = {}
for _, mod in ipairs(models) do
    print(string.format("\n-- %s", mod.name))
    print(string.format("%-22s %-14s %9s %9s %9s %8s %7s", "base", "remedy", "PPL(Q)", "ratio", "±", "KLD", "alpha"))
    for _, base in ipairs(BASES) do
        for _, remedy in ipairs(REMEDIES) do
            local row, sites = evaluate(mod, base, remedy)
            out:append("ppl/remedies", row)
            for _, s in ipairs(sites) do out:append("ppl/remedies_sites", s) end
            rows[#rows + 1] = row
            if row.error == "" then
                print(string.format("%-22s %-14s %9.3f %9.4f %9.4f %8.4f %7s", base, row.remedy, row.ppl_q,
                    row.ppl_ratio, row.ppl_ratio_stderr, row.kld_mean,
                    row.remedy_alpha == row.remedy_alpha and string.format("%.3g", row.remedy_alpha) or "-"))
            else
                print(string.format("%-22s %-14s not run: %s", base, row.remedy, row.error))
            end
        end
    end
end

-- the outliers before and after each transform that keeps the function
local TRANSFORMS = list(p.transforms)
print("\n-- outlier statistics before / after (kurtosis; absmax of the site)")
local rotated_prof
for _, mod in ipairs(models) do
    local before = mod.m:profile{ text = txt, tokens = p.profile_tokens, ctx = p.ctx,
                                  results = mod.name ~= "shipped" and out or nil }
    for _, t in ipairs(TRANSFORMS) do
        local r, rep = mod.m:remedy{ config = t, calib = cal, calib_windows = p.calib_windows, ctx = p.ctx }
        if not r then error(rep) end     -- a transform that cannot run: the table would lie
        local after
        if mod.name ~= "shipped" and qs.config(t).remedy.rotate and not rotated_prof then
            local outr <close> = qs.results(p.out, { label = "remedies: planted, rotated", model = m, text = txt })
            after = r:profile{ text = txt, tokens = p.profile_tokens, ctx = p.ctx, results = outr }
            rotated_prof = outr:run()
        else
            after = r:profile{ text = txt, tokens = p.profile_tokens, ctx = p.ctx }
        end
        for _, site in ipairs(SITES) do
            local kb, ka = before.kurtosis[site], after.kurtosis[site]
            for layer = 0, #kb - 1 do
                out:append("remedies/outliers", {
                    model = mod.name, remedy = rep.config, site = site, layer = layer,
                    kurtosis_before = kb[layer + 1], kurtosis_after = ka[layer + 1],
                    absmax_before = before.absmax[site][layer + 1], absmax_after = after.absmax[site][layer + 1] })
            end
            local function med(v)
                local c = {}
                for i = 1, #v do c[i] = v[i] end
                table.sort(c)
                return c[(#c + 1) // 2]
            end
            print(string.format("%-12s %-28s %-12s kurtosis %8.1f -> %6.2f (median over layers), absmax %8.2f -> %6.2f",
                mod.name, rep.config, site, med(kb), med(ka), med(before.absmax[site]), med(after.absmax[site])))
        end
    end
end
if rotated_prof then out:attr("remedies", "rotated_run", rotated_prof) end
print(string.format("\nresults: %s (run %d: ppl/remedies, ppl/remedies_sites, remedies/outliers%s)", p.out, out:run(),
    rotated_prof and string.format("; run %d: the rotated planted profile", rotated_prof) or ""))
