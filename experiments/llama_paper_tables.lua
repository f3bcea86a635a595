-- llama_paper_tables.lua: the SmoothQuant-style W8A8 table for any LLaMA-family checkpoint
-- (llama2.c .bin, GGUF or a Hugging Face directory): perplexity and KL divergence against the
-- full-precision model for the W8A8 quantizer grid
--     weights per-tensor | per-channel  x  activations per-tensor | per-token (dynamic)
--     + activations per-tensor static (ranges calibrated beforehand)
-- with the W16A16 reference and the one-side rows (W8A16, W16A8) that say which side costs
-- what. No smoothing is applied: these are the baselines SmoothQuant's O1/O2/O3 settings
-- start from (O1: per-tensor W, per-token dynamic A; O2: per-tensor dynamic A; O3:
-- per-tensor static A). A configuration that fails is recorded with its error and the table
-- goes on.
--
--   build/qscope run experiments/llama_paper_tables.lua model=/path/to/llama-2-7b.gguf \
--       text=data/text/wikitext2_test.tokens.txt ctx=2048 tokens=16384
--
-- Writes the table ppl/w8a8 of a new run in `out` (one row per configuration: the perplexity
-- report, KLD mean and percentiles, top-1 agreement, bits per value, error).
local p = declare_params{
    model = "data/models/stories260K.bin",
    text = "data/text/wikitext2_test.tokens.txt",
    ctx = 512,               -- window length (clamped to the model's context by qscope)
    tokens = 8192,           -- scored tokens per configuration (0: the whole text)
    out = "results/llama_paper_tables.h5",
    calib = "",              -- calibration text for the static rows ("": the first evaluation window)
    calib_windows = 8,
    tokenizer = "",          -- tokenizer file when it is not found beside the model
}

local CONFIGS = {
    { "W16A16", "reference", "full precision (both passes identical)" },
    { "W8A16 per-channel", "weights only", "" },
    { "W16A8 per-tensor", "activations only", "" },
    { "W16A8 per-token", "activations only", "" },
    { "W8A8 w:per-tensor a:per-tensor", "W8A8 grid", "SmoothQuant O2 quantizer, no smoothing" },
    { "W8A8 w:per-tensor a:per-token", "W8A8 grid", "SmoothQuant O1 quantizer, no smoothing" },
    { "W8A8 w:per-channel a:per-tensor", "W8A8 grid", "" },
    { "W8A8 w:per-channel a:per-token", "W8A8 grid", "" },
    { "W8A8 w:per-tensor a:per-tensor static", "W8A8 grid, static", "SmoothQuant O3 quantizer, no smoothing" },
    { "W8A8 w:per-channel a:per-tensor static", "W8A8 grid, static", "" },
}
local PCTS = { "max", "p99.9", "p99", "p95", "p90", "median", "p10", "p5", "p1", "p0.1", "min" }

local m = qs.model(p.model, p.tokenizer ~= "" and { tokenizer = p.tokenizer } or nil)
local info = m:info()
local txt = qs.text(p.text)
local calib = p.calib ~= "" and qs.text(p.calib) or nil
local out <close> = qs.results(p.out, { label = "llama_paper_tables" })
for _, k in ipairs{ "path", "format", "arch", "dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size",
                    "seq_len", "params" } do
    out:attr("model", k, info[k])
end
out:attr("ppl", "text", p.text)   -- the group of the table (attributes on a table are not supported)
print(string.format("== %s: %s %s, dim %d, %d layers, %d params; text %s, ctx %d, %s scored tokens per config",
    info.path, info.format, info.arch, info.dim, info.n_layers, info.params, p.text, p.ctx,
    p.tokens > 0 and tostring(p.tokens) or "all"))

local NUMBERS = { "tokens", "ppl_q", "ppl_q_stderr", "ppl_base", "ppl_base_stderr", "ppl_ratio", "ppl_ratio_stderr",
                  "ln_ppl_ratio", "ln_ppl_ratio_stderr", "kld_mean", "kld_stderr", "top1_agree", "top1_agree_stderr",
                  "top5_overlap", "dp_rms", "w_bits_per_value", "a_bits_per_value", "seconds" }
for _, k in ipairs(PCTS) do NUMBERS[#NUMBERS + 1] = "kld_" .. k end

local function gran(side, is_weight)
    if side.bits >= 16 then return "-" end
    if side.granularity == "tensor" then return "per-tensor" end
    if side.granularity == "row" then return is_weight and "per-channel" or "per-token" end
    if side.granularity == "group" then return "g" .. side.group end
    return side.granularity
end

local rows = {}
for _, c in ipairs(CONFIGS) do
    local cfg = qs.config(c[1])
    -- every column in every row, so that a failing first configuration still makes the table
    local row = { model = info.path, config = cfg.name, group = c[2], note = c[3], target = "both", error = "",
                  w_granularity = gran(cfg.w, true), a_granularity = gran(cfg.a, false),
                  a_range = cfg.a.bits < 16 and (cfg.a.static and "static" or "dynamic") or "-" }
    for _, k in ipairs(NUMBERS) do row[k] = 0 / 0 end
    local opts = { config = c[1], text = txt, ctx = p.ctx }
    if p.tokens > 0 then opts.max_tokens = p.tokens end
    if cfg.a.static then
        opts.calib = calib
        opts.calib_windows = p.calib_windows
    end
    local r, err = m:eval(opts)
    if r then
        for _, k in ipairs(NUMBERS) do row[k] = r[k] end
    else
        row.error = err
        print(string.format("   %s failed: %s", c[1], row.error))
    end
    out:append("ppl/w8a8", row)
    rows[#rows + 1] = row
end

print(string.format("\n%-40s %-12s %-12s %-8s %10s %8s %8s %10s %10s %7s", "config", "W gran", "A gran", "A range",
    "PPL", "+-", "ratio", "KLD mean", "KLD p99", "top-1"))
for _, r in ipairs(rows) do
    if r.error == "" then
        print(string.format("%-40s %-12s %-12s %-8s %10.4f %8.4f %8.4f %10.5f %10.5f %7.4f", r.config, r.w_granularity,
            r.a_granularity, r.a_range, r.ppl_q, r.ppl_q_stderr, r.ppl_ratio, r.kld_mean, r.kld_p99, r.top1_agree))
    else
        print(string.format("%-40s error: %s", r.config, r.error))
    end
end
for _, r in ipairs(rows) do
    if r.note ~= "" and r.error == "" and r.group ~= "reference" then
        print(string.format("  %s: %s", r.config, r.note))
    end
end
print(string.format("\nresults: %s (run %d, table ppl/w8a8)", p.out, out:run()))
