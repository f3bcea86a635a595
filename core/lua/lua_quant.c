/* Quantization from Lua: config names, fake-quantizing arrays and model tensors, and
 * quantized evaluation of a model.
 *   qs.config(name)                 -> {name, w = {...}, a = {...}} (parsed, canonical name)
 *   qs.quantize(values, spec [, {rows=, cols=}])
 *                                   -> {values, mse, sqnr_db, max_err, bits_per_value,
 *                                       levels_mean, levels_min, levels_max, clipped}
 *   m:quantize_tensor(name, spec)   -> the same without values, for a weight of the model
 *   m:eval{config=, text=, <window options>, attribute = "sites"|"layers", calib = text,
 *          calib_windows = 8}       -> {config, ppl_q, ppl_base, ppl_ratio, kld_mean, ...,
 *                                       attribution = {{scope=, ...}, ...}}
 * Misuse raises (a malformed config name or spec, an unknown option); a config or spec that
 * cannot run on this model or these values returns nil and a message.
 * A spec for one tensor is a config name whose other side is 16 bits, or a short form:
 * "W4 g128 mse" (weights) / "A8 per-token" (activations). */
#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "eval.h"
#include "eval_fields.h"
#include "lua_aux.h"
#include "lua_qs.h"
#include "memory.h"
#include "metrics.h"
#include "quant.h"
#include "remedy.h"

static void push_side(lua_State *L, const qs_quant_side *s) {
    lua_createtable(L, 0, 8);
    qs__lua_set_int(L, "bits", s->spec.bits);
    qs__lua_set_str(L, "scheme", qs_quant_scheme_name(s->spec.scheme));
    qs__lua_set_str(L, "granularity", qs_quant_gran_name(s->spec.gran));
    qs__lua_set_int(L, "group", s->spec.gran == QS_QUANT_GROUP ? s->spec.group : 0);
    qs__lua_set_str(L, "clip", qs_quant_clip_name(s->spec.clip));
    if (s->spec.clip == QS_QUANT_PERCENTILE) qs__lua_set_num(L, "percentile", s->spec.percentile);
    lua_pushboolean(L, s->is_static);
    lua_setfield(L, -2, "static");
    qs__lua_set_str(L, "scales", s->spec.fp32_scales ? "fp32" : "fp16");
}

/* The remedies of a config: a table with one entry per remedy that is on. */
static void push_remedy(lua_State *L, const qs_remedy *r) {
    lua_createtable(L, 0, 5);
    if (r->rotate) {
        lua_createtable(L, 0, 4);
        lua_pushboolean(L, (r->rotate & QS_ROTATE_RESID) != 0);
        lua_setfield(L, -2, "resid");
        lua_pushboolean(L, (r->rotate & QS_ROTATE_DOWN) != 0);
        lua_setfield(L, -2, "down");
        lua_pushboolean(L, (r->rotate & QS_ROTATE_HEADS) != 0);
        lua_setfield(L, -2, "heads");
        qs__lua_set_int(L, "seed", (long long)r->rotate_seed);
        lua_setfield(L, -2, "rotate");
    }
    const struct {
        int on;
        double alpha;
        const char *name;
    } scaled[] = {{r->smooth, r->smooth_alpha, "smooth"}, {r->awq, r->awq_alpha, "awq"}};
    for (int i = 0; i < 2; i++)
        if (scaled[i].on) { /* alpha absent: searched */
            lua_createtable(L, 0, 1);
            if (scaled[i].alpha >= 0) qs__lua_set_num(L, "alpha", scaled[i].alpha);
            lua_setfield(L, -2, scaled[i].name);
        }
    if (r->gptq) {
        lua_createtable(L, 0, 2);
        lua_pushboolean(L, r->gptq_act_order);
        lua_setfield(L, -2, "act_order");
        qs__lua_set_num(L, "damp", r->gptq_damp);
        lua_setfield(L, -2, "gptq");
    }
    if (r->decompose > 0) {
        lua_createtable(L, 0, 1);
        qs__lua_set_num(L, "threshold", r->decompose);
        lua_setfield(L, -2, "decompose");
    }
}

/* Parses a full config name or the short one-side forms. */
static void parse_spec(lua_State *L, const char *name, qs_quant_config *c,
                       const qs_quant_side **side) {
    char buf[512];
    const char *full = name;
    size_t first = strcspn(name, " "); /* the W/A token */
    if ((name[0] == 'W' || name[0] == 'w') && !memchr(name, 'A', first) &&
        !memchr(name, 'a', first)) {
        /* "W4 g128" -> "W4A16 g128" (only when the first token has no A part) */
        size_t k = strcspn(name, " ");
        snprintf(buf, sizeof buf, "%.*sA16%s", (int)k, name, name + k);
        full = buf;
    } else if (name[0] == 'A' || name[0] == 'a') {
        snprintf(buf, sizeof buf, "W16%s", name);
        full = buf;
    }
    if (qs_quant_config_parse(c, full)) qs__lua_fail(L, "quantization spec");
    int wq = c->w.spec.bits != QS_QUANT_BITS_NONE, aq = c->a.spec.bits != QS_QUANT_BITS_NONE;
    if (side && qs_remedy_any(&c->remedy))
        luaL_error(L,
                   "quantization spec '%s': remedy words apply to a model (m:eval, m:remedy), "
                   "not to one tensor",
                   name);
    if (side) {
        if (wq && aq)
            luaL_error(L, "quantization spec '%s' quantizes both sides; give one (W.. or A..)",
                       name);
        *side = aq ? &c->a : &c->w;
    }
}

int qs__lua_qs_config(lua_State *L) {
    qs_quant_config c;
    parse_spec(L, luaL_checkstring(L, 1), &c, NULL);
    char canon[256];
    if (qs_quant_config_format(canon, sizeof canon, &c)) return qs__lua_fail(L, "qs.config");
    lua_createtable(L, 0, 4);
    qs__lua_set_str(L, "name", canon);
    push_side(L, &c.w);
    lua_setfield(L, -2, "w");
    push_side(L, &c.a);
    lua_setfield(L, -2, "a");
    push_remedy(L, &c.remedy);
    lua_setfield(L, -2, "remedy");
    /* kv = {k = {...}, v = {...}}: the cache's keys and values, like a side (never static) */
    lua_createtable(L, 0, 2);
    for (int i = 0; i < 2; i++) {
        qs_quant_side s;
        memset(&s, 0, sizeof s);
        s.spec = i ? c.kv.v : c.kv.k;
        push_side(L, &s);
        lua_setfield(L, -2, i ? "v" : "k");
    }
    lua_setfield(L, -2, "kv");
    return 1;
}

/* fake-quantizes x (R, C) with spec and pushes the report table; returns the number of
 * results: 1, or 2 (nil, message) when the quantizer cannot run on x (an expected failure) */
static int quantize_push(lua_State *L, const char *what, const float *x, int R, int C,
                         const qs_quant_spec *sp, int with_values) {
    size_t n = (size_t)R * C;
    /* Lua memory: counted against the script's limit and freed by the collector on every
     * path, errors included (a malloc'd buffer leaked on each failed call) */
    float *y = lua_newuserdatauv(L, n * sizeof *y, 0);
    qs_quant_io io = {0};
    io.count_levels = 1;
    qs_quant_report rep;
    if (qs_quant_fake(y, x, R, C, sp, &io, &rep)) return qs__lua_nil_error(L, what);
    qs_error_metrics em;
    qs_metrics_compute(&em, x, y, (int64_t)n);
    lua_createtable(L, 0, 10);
    qs__lua_set_num(L, "mse", em.mse);
    qs__lua_set_num(L, "sqnr_db", em.sqnr_db);
    qs__lua_set_num(L, "max_err", em.max_abs_err);
    qs__lua_set_num(L, "bits_per_value", rep.bits_per_value);
    qs__lua_set_num(L, "levels_mean", rep.levels_mean);
    qs__lua_set_int(L, "levels_min", rep.levels_min);
    qs__lua_set_int(L, "levels_max", rep.levels_max);
    qs__lua_set_int(L, "clipped", rep.n_clipped);
    qs__lua_set_int(L, "scales", rep.n_scales);
    if (with_values) {
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            lua_pushnumber(L, y[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_setfield(L, -2, "values");
    }
    return 1;
}

int qs__lua_qs_quantize(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    qs_quant_config c;
    const qs_quant_side *side;
    parse_spec(L, luaL_checkstring(L, 2), &c, &side);
    lua_Integer n = luaL_len(L, 1);
    if (n < 1) return luaL_error(L, "qs.quantize: empty array");
    lua_Integer R = 1, C = n;
    if (lua_istable(L, 3)) {
        static const char *const keys[] = {"rows", "cols", NULL};
        qs__lua_check_keys(L, 3, "qs.quantize", keys);
        R = qs__lua_opt_int(L, 3, "rows", 1);
        C = qs__lua_opt_int(L, 3, "cols", n / (R > 0 ? R : 1));
    }
    if (R < 1 || C < 1 || R * C != n)
        return luaL_error(L, "qs.quantize: rows x cols = %d x %d does not match %d values", (int)R,
                          (int)C, (int)n);
    float *x = lua_newuserdatauv(L, (size_t)n * sizeof *x, 0); /* Lua memory, see above */
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        int ok;
        x[i - 1] = (float)lua_tonumberx(L, -1, &ok);
        lua_pop(L, 1);
        if (!ok) return luaL_error(L, "qs.quantize: element %d is not a number", (int)i);
    }
    return quantize_push(L, "qs.quantize", x, (int)R, (int)C, &side->spec, 1);
}

int qs__lua_model_quantize_tensor(lua_State *L) {
    qs_model *m = qs__lua_check_model(L, 1);
    const char *name = luaL_checkstring(L, 2);
    qs_quant_config c;
    const qs_quant_side *side;
    parse_spec(L, luaL_checkstring(L, 3), &c, &side);
    const qs_tensor *t = qs_model_tensor(m, name);
    if (!t) return luaL_error(L, "m:quantize_tensor: no tensor '%s' (see m:info().tensors)", name);
    const float *x = t->f32;
    if (!x) { /* expanded into a buffer the GC owns, so an error below leaks nothing */
        float *buf = lua_newuserdatauv(L, (size_t)qs_tensor_numel(t) * sizeof *buf, 0);
        qs_tensor_rows(buf, t, 0, t->rows);
        x = buf;
    }
    if (quantize_push(L, "m:quantize_tensor", x, (int)t->rows, (int)t->cols, &side->spec, 0) != 1)
        return 2;
    qs__lua_set_str(L, "tensor", name);
    return 1;
}

static void push_eval(lua_State *L, const qs_eval_result *r) {
    qs_field f[QS_EVAL_NFIELDS];
    qs_eval_fields(r, f);
    lua_createtable(L, 0, QS_EVAL_NFIELDS + 4);
    qs__lua_set_fields(L, f, QS_EVAL_NFIELDS);
}

/* m:eval{base = other, text = , <window options>}: m (a quantized file) against its base */
static int model_eval_pair(lua_State *L, qs_model *quant) {
    static const char *const own[] = {"config", "attribute", "calib"};
    for (int k = 0; k < 3; k++) {
        lua_getfield(L, 2, own[k]);
        int given = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (given)
            return luaL_error(L,
                              "m:eval: with base = the quantization is the model's own: '%s' "
                              "does not apply",
                              own[k]);
    }
    lua_getfield(L, 2, "base");
    qs_model *base = qs__lua_check_model(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 2, "text");
    qs_text *t = qs__lua_check_text(L, -1);
    lua_pop(L, 1);
    if (!base->tok) return luaL_error(L, "m:eval: the base model has no tokenizer");
    qs_window_opts wo;
    qs__lua_window_opts(L, 2, base, &wo);
    qs_windows ws;
    if (qs_windows_build(&ws, base->tok, t->data, t->len, &wo))
        return qs__lua_nil_error(L, "m:eval");
    qs_eval_result r;
    int rc = qs_eval_pair_check(base, quant, t->data, t->len);
    if (rc == QS_OK) rc = qs_eval_pair(base, quant, &ws, &r);
    qs_windows_free(&ws);
    if (rc) return qs__lua_nil_error(L, "m:eval");
    push_eval(L, &r);
    const char *slash = strrchr(quant->path, '/');
    lua_pushfstring(L, "file:%s", slash && slash[1] ? slash + 1 : quant->path);
    lua_setfield(L, -2, "config");
    qs__lua_set_str(L, "scope", "all");
    qs__lua_set_str(L, "base", base->path);
    return 1;
}

int qs__lua_model_eval(lua_State *L) {
    qs_model *m = qs__lua_check_model(L, 1);
    /* a list of configs is a distributed loop (lua_dist.c) */
    if (lua_istable(L, 2) && lua_getfield(L, 2, "configs") != LUA_TNIL) {
        lua_pop(L, 1);
        return qs__lua_model_eval_list(L);
    }
    if (lua_istable(L, 2)) lua_pop(L, 1);
    static const char *const keys[] = {QS_LUA_WINDOW_KEYS, "config", "attribute", "calib",
                                       "calib_windows",    "base",   NULL};
    qs__lua_check_keys(L, 2, "m:eval", keys);
    lua_getfield(L, 2, "base");
    int pair = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (pair) return model_eval_pair(L, m);
    const char *name = qs__lua_opt_str(L, 2, "config", NULL);
    if (!name) return luaL_error(L, "m:eval: config is required");
    qs_quant_config cfg;
    parse_spec(L, name, &cfg, NULL);
    char canon[256];
    if (qs_quant_config_format(canon, sizeof canon, &cfg)) return qs__lua_fail(L, "m:eval");
    const char *attr = qs__lua_opt_str(L, 2, "attribute", NULL);
    if (attr && strcmp(attr, "sites") && strcmp(attr, "layers"))
        return luaL_error(L, "m:eval: attribute must be \"sites\" or \"layers\"");
    lua_getfield(L, 2, "text");
    qs_text *t = qs__lua_check_text(L, -1);
    lua_pop(L, 1);
    if (!m->tok) return luaL_error(L, "m:eval: the model has no tokenizer");
    qs_window_opts wo;
    qs__lua_window_opts(L, 2, m, &wo);
    qs_windows ws, cws = {0};
    qs__lua_windows_build(L, &ws, m->tok, t, &wo, "m:eval");
    /* from here a failure is the evaluation's own (a config that cannot run on this model,
     * its calibration windows): nil and a message, so a sweep over configs goes on */
    int rc = QS_OK;
    lua_getfield(L, 2, "calib");
    int has_calib = !lua_isnil(L, -1);
    if (has_calib) {
        qs_text *ct = qs__lua_check_text(L, -1);
        qs_window_opts co = wo;
        co.doc_sep = NULL;
        co.max_tokens = 0;
        rc = qs_windows_build(&cws, m->tok, ct->data, ct->len, &co);
        int cn = (int)qs__lua_opt_int(L, 2, "calib_windows", 8);
        if (rc == QS_OK && cws.n > cn) cws.n = cn;
    }
    lua_pop(L, 1);
    qs_eval_result r;
    if (rc == QS_OK) rc = qs_eval(m, &ws, &cfg, QS_SITE_ALL, has_calib ? &cws : NULL, &r);
    if (rc) {
        qs_windows_free(&ws);
        qs_windows_free(&cws);
        return qs__lua_nil_error(L, "m:eval");
    }
    push_eval(L, &r);
    qs__lua_set_str(L, "config", canon);
    qs__lua_set_str(L, "scope", "all");
    if (attr) {
        int by_site = strcmp(attr, "sites") == 0;
        int count = by_site ? QS_SITE_COUNT : m->cfg.n_layers, k = 0;
        qs_eval_fix_search(&cfg, &r); /* a searched exponent is not searched again */
        lua_newtable(L);
        for (int i = 0; i < count && rc == QS_OK; i++) {
            qs_quant_config one;
            unsigned mask;
            if (!qs_eval_attribution_config(&one, &mask, &cfg, by_site, i)) continue;
            qs_eval_result part;
            rc = qs_eval(m, &ws, &one, mask, has_calib ? &cws : NULL, &part);
            if (rc) break;
            push_eval(L, &part);
            qs__lua_set_str(L, "config", canon);
            char scope[48];
            if (by_site)
                snprintf(scope, sizeof scope, "site:%s", qs_site_name(i));
            else
                snprintf(scope, sizeof scope, "layer:%d", i);
            qs__lua_set_str(L, "scope", scope);
            lua_rawseti(L, -2, ++k);
        }
        lua_setfield(L, -2, "attribution");
    }
    qs_windows_free(&ws);
    qs_windows_free(&cws);
    if (rc) return qs__lua_nil_error(L, "m:eval");
    return 1;
}

/* m:remedy{config=, calib=, calib_windows=8, weights=false, <window options>}: a new model
 * with the config's function-preserving remedies folded in (rotate, smooth, awq), and with
 * weights=true its weights quantized too (round-to-nearest, or gptq); activations stay for
 * m:eval. Returns the model and a report, or nil and a message when the remedies cannot
 * run on this model (misuse raises). */
int qs__lua_model_remedy(lua_State *L) {
    qs_model *m = qs__lua_check_model(L, 1);
    static const char *const keys[] = {QS_LUA_WINDOW_KEYS, "config",  "calib",
                                       "calib_windows",    "weights", NULL};
    qs__lua_check_keys(L, 2, "m:remedy", keys);
    const char *name = qs__lua_opt_str(L, 2, "config", NULL);
    if (!name) return luaL_error(L, "m:remedy: config is required");
    qs_quant_config cfg;
    parse_spec(L, name, &cfg, NULL);
    lua_getfield(L, 2, "weights");
    int weights = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!m->tok) return luaL_error(L, "m:remedy: the model has no tokenizer");
    qs_window_opts wo;
    qs__lua_window_opts(L, 2, m, &wo);
    wo.doc_sep = NULL;
    wo.max_tokens = 0;
    qs_windows cws = {0};
    int need = cfg.remedy.smooth || cfg.remedy.awq || (weights && cfg.remedy.gptq);
    lua_getfield(L, 2, "calib");
    if (!lua_isnil(L, -1)) {
        qs_text *ct = qs__lua_check_text(L, -1);
        if (qs_windows_build(&cws, m->tok, ct->data, ct->len, &wo))
            return qs__lua_fail(L, "m:remedy");
        int cn = (int)qs__lua_opt_int(L, 2, "calib_windows", QS_EVAL_CALIB_WINDOWS);
        if (cws.n > cn) cws.n = cn;
    } else if (need) {
        return luaL_error(L, "m:remedy: '%s' needs calib = a text", name);
    }
    lua_pop(L, 1);
    int rc = QS_OK;
    if (cfg.remedy.smooth && cfg.remedy.smooth_alpha < 0)
        rc = qs_eval_smooth_search(m, &cfg, QS_SITE_ALL, &cws, &cfg.remedy.smooth_alpha);
    qs_lua_model *u = lua_newuserdatauv(L, sizeof *u, 1);
    u->m = NULL;
    luaL_setmetatable(L, QS_LUA_MODEL);
    lua_pushvalue(L, 1); /* the copy borrows the original's tokenizer: keep it alive */
    lua_setiuservalue(L, -2, 1);
    qs_remedy_report rep;
    memset(&rep, 0, sizeof rep);
    qs_wquant_report wr;
    memset(&wr, 0, sizeof wr);
    if (rc == QS_OK) rc = qs_remedy_transform(&u->m, m, &cfg, &cws, &rep);
    if (rc == QS_OK && weights && cfg.w.spec.bits != QS_QUANT_BITS_NONE)
        rc = cfg.remedy.gptq
                 ? qs_remedy_gptq(u->m, &cfg.w, QS_SITE_ALL, &cfg.remedy, &cws, &wr, &rep)
                 : qs_wquant_apply(u->m, &cfg.w, QS_SITE_ALL, &wr);
    qs_windows_free(&cws);
    if (rc) return qs__lua_nil_error(L, "m:remedy"); /* the config cannot run on this model */
    char canon[256];
    if (qs_quant_config_format(canon, sizeof canon, &cfg)) return qs__lua_fail(L, "m:remedy");
    lua_createtable(L, 0, 10);
    qs__lua_set_str(L, "config", canon); /* a searched exponent spelled out */
    if (rep.has_alpha) qs__lua_set_num(L, "alpha", rep.alpha);
    qs__lua_set_int(L, "scaled", rep.n_scaled);
    qs__lua_set_int(L, "calib_windows", rep.calib_windows);
    qs__lua_set_int(L, "calib_tokens", rep.calib_tokens);
    qs__lua_set_int(L, "rotated", rep.rotate.parts);
    qs__lua_set_int(L, "weights_quantized", wr.n_tensors);
    if (wr.n_tensors) qs__lua_set_num(L, "w_bits_per_value", wr.bits_per_value);
    if (cfg.remedy.gptq && wr.n_tensors) {
        qs__lua_set_num(L, "gptq_err", rep.gptq_err);
        qs__lua_set_num(L, "gptq_energy", rep.gptq_energy);
    }
    qs__lua_set_num(L, "seconds", rep.seconds);
    return 2;
}

/* qs.memory{params=, bits=, group=, scale_bits=, affine=, layers=, kv_heads=, head_dim=,
 *           seq=, batch=, kv_bits=} -> {weight_bytes, scale_bytes, kv_bytes, total_bytes,
 *           bits_per_weight} */

/* m:quantize(config) -> a twin of m with the config's weights quantized into packed tensors
 * (weight_quant.h): it shares every other tensor and the tokenizer with m, costs the packed
 * bytes, and can be evaluated against m (q:eval{base = m}), profiled or saved. The config's
 * activation side is ignored: activations are quantized online, by m:eval. */
int qs__lua_model_quantize(lua_State *L) {
    qs_model *m = qs__lua_check_model(L, 1);
    qs_quant_config c;
    parse_spec(L, luaL_checkstring(L, 2), &c, NULL);
    if (c.w.spec.bits == QS_QUANT_BITS_NONE)
        return luaL_error(L, "m:quantize: '%s' leaves the weights alone (W16)", lua_tostring(L, 2));
    qs_lua_model *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->m = NULL; /* created closed, filled only on success */
    luaL_setmetatable(L, QS_LUA_MODEL);
    if (qs_wquant_twin(&u->m, m, &c.w, QS_SITE_ALL, NULL)) return qs__lua_fail(L, "m:quantize");
    return 1;
}

int qs__lua_qs_memory(lua_State *L) {
    static const char *const keys[] = {"params",  "bits",     "group",    "scale_bits", "affine",
                                       "layers",  "kv_heads", "head_dim", "seq",        "batch",
                                       "kv_bits", "kv",       NULL};
    qs__lua_check_keys(L, 1, "qs.memory", keys);
    qs_mem_spec s;
    qs_mem_spec_default(&s);
    s.params = qs__lua_opt_num(L, 1, "params", 0);
    s.bits = (int)qs__lua_opt_int(L, 1, "bits", 16);
    s.group = (long)qs__lua_opt_i64(L, 1, "group", 128);
    s.scale_bits = (int)qs__lua_opt_int(L, 1, "scale_bits", 16);
    s.zero_point_bits = qs__lua_opt_bool(L, 1, "affine", 0) ? s.bits : 0;
    s.layers = (int)qs__lua_opt_int(L, 1, "layers", 0);
    s.kv_heads = (int)qs__lua_opt_int(L, 1, "kv_heads", 0);
    s.head_dim = (int)qs__lua_opt_int(L, 1, "head_dim", 0);
    s.seq = (long)qs__lua_opt_i64(L, 1, "seq", 0);
    s.batch = (long)qs__lua_opt_i64(L, 1, "batch", 1);
    s.kv_bits = (int)qs__lua_opt_int(L, 1, "kv_bits", 16);
    const char *kv = qs__lua_opt_str(L, 1, "kv", NULL);
    if (kv && qs_mem_kv_bits(&s.kv_bits_per_value, kv, s.kv_heads, s.head_dim, s.seq))
        return qs__lua_fail(L, "qs.memory");
    qs_mem_report r;
    if (qs_mem_compute(&r, &s)) return qs__lua_fail(L, "qs.memory");
    lua_createtable(L, 0, 5);
    qs__lua_set_num(L, "weight_bytes", r.weight_bytes);
    qs__lua_set_num(L, "scale_bytes", r.scale_bytes);
    qs__lua_set_num(L, "kv_bytes", r.kv_bytes);
    qs__lua_set_num(L, "kv_bits_per_value", r.kv_bits_per_value);
    qs__lua_set_num(L, "total_bytes", r.total_bytes);
    qs__lua_set_num(L, "bits_per_weight", r.bits_per_weight);
    return 1;
}
