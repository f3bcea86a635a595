/* Profiling and planting from Lua.
 *   m:profile{text=, tokens=, ctx=, <window options>, sites="all", layers="all", tau=20,
 *             phi=0.5, massive_rule="auto", massive_abs=, massive_ratio=, int8=6,
 *             results=out, dump={{site=, layer=, tokens=}, ...}}
 *       The profile engine (profile_engine.h), as `qscope profile` runs it; layers in the
 *       one layer-list grammar ("0,2-4", sites.h).
 *       -> prof = {tokens, windows, seconds, memory_bytes,
 *                  kurtosis = {[site] = {per layer}}, absmax = {...}, p999 = {...},
 *                  weights = {{name, rows, cols, kurtosis, absmax, std, p99, p999}, ...},
 *                  capture = <userdata kept for qs.outlier_channels / qs.outlier_tokens>}
 *       With results, the statistics, weight statistics and outlier tables are written to
 *       that run (stats/…, weights/…, outliers/…, model attributes). dump (needs results)
 *       also stores the raw (T, C) activations of the first `tokens` tokens at each named
 *       site × layer in that run, as dump/<site>/<layer> (float32), and lists them in
 *       prof.dumps = {{site, layer, rows, cols, path}, ...}. At most QS_CAPTURE_MAX_DUMPS.
 *   qs.outlier_channels(prof [, {min_token_frac = 0.5}])
 *       -> {{site, layer, channel, absmax, ratio_to_median, token_fraction,
 *            sequence_fraction, shared_layers}, ...}
 *   qs.outlier_tokens(prof)
 *       -> {{site, layer, window, position, token_id, channel, value, ratio}, ...}
 *   m:plant{{site=, layer= (number or "all"), channel=, scale=}, ...}
 *       -> a new model whose full-precision function is unchanged (plant.h): a twin that
 *          shares every tensor the plants do not touch
 *   m:save(path [, {format=, dtype=, shard_gb=}]) writes a checkpoint (save.h). */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "error.h"
#include "lua_aux.h"
#include "lua_qs.h"
#include "plant.h"
#include "profile_engine.h"
#include "save.h"

typedef struct lua_capture {
    qs_capture *c;
    int n_layers;
} lua_capture;

static int capture_gc(lua_State *L) {
    lua_capture *u = luaL_checkudata(L, 1, QS_LUA_CAPTURE);
    qs_capture_free(u->c);
    u->c = NULL;
    return 0;
}

static const qs_capture *check_prof(lua_State *L, int idx) {
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, "capture");
    lua_capture *u = luaL_testudata(L, -1, QS_LUA_CAPTURE);
    lua_pop(L, 1); /* still referenced by the prof table */
    if (!u || !u->c) luaL_error(L, "expected a profile returned by m:profile");
    return u->c;
}

/* per-layer whole-tensor summaries of every captured site: out[field][site] = {…} */
static void push_site_summaries(lua_State *L, const qs_capture *c) {
    static const char *fields[] = {"kurtosis", "absmax", "p999", "std"};
    for (int f = 0; f < 4; f++) {
        lua_newtable(L);
        for (int s = 0; s < QS_SITE_COUNT; s++) {
            int nl = qs_capture_site_layers(c, s), any = 0;
            lua_createtable(L, nl, 0);
            for (int l = 0; l < nl; l++) {
                const qs_tensorstats *ts = qs_capture_tensorstats(c, s, l);
                qs_tensorstats_summary sum;
                double v = 0.0 / 0.0;
                if (ts && qs_tensorstats_summarize(ts, &sum) == QS_OK) {
                    v = f == 0 ? sum.kurtosis : f == 1 ? sum.absmax : f == 2 ? sum.p999 : sum.std;
                    any = 1;
                }
                lua_pushnumber(L, v);
                lua_rawseti(L, -2, l + 1);
            }
            if (any)
                lua_setfield(L, -2, qs_site_name(s));
            else
                lua_pop(L, 1);
        }
        lua_setfield(L, -2, fields[f]);
    }
}

/* attention = {sink_threshold, sink_fraction = {per layer}, sink_mass, sink_position,
 * bos_mass, entropy, max_logit = {per layer: {per head}}, massive_sinks = {{window, position,
 * token_id, layer, head, mass}...}}, layers and heads counted from 1 like Lua arrays, the
 * values (sink_position, layer, head) from 0 like the HDF5 tables. */
static void push_attention(lua_State *L, const qs_capture *c) {
    const qs_attnstats *a = qs_capture_attention(c);
    if (!a) return;
    int NL = qs_attnstats_layers(a), H = qs_attnstats_heads(a);
    lua_createtable(L, 0, 8);
    qs__lua_set_num(L, "sink_threshold", qs_attnstats_threshold(a));
    lua_createtable(L, NL, 0);
    for (int l = 0; l < NL; l++) {
        lua_pushnumber(L, qs_attnstats_sink_fraction(a, l));
        lua_rawseti(L, -2, l + 1);
    }
    lua_setfield(L, -2, "sink_fraction");
    static const char *const fields[] = {"sink_mass", "sink_position", "bos_mass", "entropy",
                                         "max_logit"};
    for (int f = 0; f < 5; f++) {
        lua_createtable(L, NL, 0);
        for (int l = 0; l < NL; l++) {
            lua_createtable(L, H, 0);
            for (int h = 0; h < H; h++) {
                qs_attn_head s;
                qs_attnstats_head(a, l, h, &s);
                double v = f == 0   ? s.sink_mass
                           : f == 1 ? s.sink_position
                           : f == 2 ? s.bos_mass
                           : f == 3 ? s.entropy
                                    : s.max_logit;
                if (f == 1)
                    lua_pushinteger(L, (lua_Integer)v);
                else
                    lua_pushnumber(L, v);
                lua_rawseti(L, -2, h + 1);
            }
            lua_rawseti(L, -2, l + 1);
        }
        lua_setfield(L, -2, fields[f]);
    }
    int n;
    int64_t found;
    const qs_attn_tie *t = qs_attnstats_ties(a, &n, &found);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 0, 6);
        qs__lua_set_int(L, "window", t[i].window);
        qs__lua_set_int(L, "position", t[i].position);
        qs__lua_set_int(L, "token_id", t[i].token_id);
        qs__lua_set_int(L, "layer", t[i].layer);
        qs__lua_set_int(L, "head", t[i].head);
        qs__lua_set_num(L, "mass", t[i].mass);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "massive_sinks");
    lua_setfield(L, -2, "attention");
}

static void push_weights(lua_State *L, const qs_weightstat *w, int n) {
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        qs_tensorstats_summary s;
        if (qs_tensorstats_summarize(w[i].ts, &s)) continue;
        lua_createtable(L, 0, 8);
        qs__lua_set_str(L, "name", w[i].name);
        qs__lua_set_int(L, "rows", w[i].rows);
        qs__lua_set_int(L, "cols", w[i].cols);
        qs__lua_set_num(L, "kurtosis", s.kurtosis);
        qs__lua_set_num(L, "absmax", s.absmax);
        qs__lua_set_num(L, "std", s.std);
        qs__lua_set_num(L, "p99", s.p99);
        qs__lua_set_num(L, "p999", s.p999);
        lua_rawseti(L, -2, i + 1);
    }
}

/* Reads dump = {{site=, layer=, tokens=}, ...} from the option table at idx into d (room
 * for QS_CAPTURE_MAX_DUMPS); returns how many. Raises on a bad entry, before anything is
 * allocated; the engine checks that each pair is profiled. */
static int read_dumps(lua_State *L, int idx, const qs_model *m, qs_profile_dump *d) {
    lua_getfield(L, idx, "dump");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    if (!lua_istable(L, -1))
        luaL_error(L, "m:profile: dump must be a list of {site=, layer=, tokens=}");
    int list = lua_gettop(L), n = (int)luaL_len(L, list);
    if (n > QS_CAPTURE_MAX_DUMPS)
        luaL_error(L, "m:profile: at most %d dumps (got %d)", QS_CAPTURE_MAX_DUMPS, n);
    static const char *const keys[] = {"site", "layer", "tokens", NULL};
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, list, i + 1);
        int e = lua_gettop(L);
        if (!lua_istable(L, e))
            luaL_error(L, "m:profile: dump[%d] must be a table {site=, layer=, tokens=}", i + 1);
        qs__lua_check_keys(L, e, "m:profile dump", keys);
        char what[48];
        snprintf(what, sizeof what, "m:profile: dump[%d]", i + 1);
        qs__lua_site_layer(L, e, what, &m->cfg, &d[i].site, &d[i].layer);
        lua_Integer tokens = qs__lua_opt_i64(L, e, "tokens", 256);
        if (tokens < 1) luaL_error(L, "%s: tokens must be >= 1", what);
        d[i].max_tokens = (long)tokens;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return n;
}

/* prof.dumps: what each dump stored (rows = tokens actually seen, up to the bound) */
static void push_dumps(lua_State *L, const qs_profile_request *req, const qs_profile_result *r) {
    lua_createtable(L, req->n_dumps, 0);
    for (int i = 0; i < req->n_dumps; i++) {
        const qs_profile_dump *d = &req->dumps[i];
        char path[64];
        snprintf(path, sizeof path, "dump/%s/%d", qs_site_name(d->site), d->layer);
        lua_createtable(L, 0, 5);
        qs__lua_set_str(L, "site", qs_site_name(d->site));
        qs__lua_set_int(L, "layer", d->layer);
        qs__lua_set_int(L, "rows", r->dump_rows[i]);
        qs__lua_set_int(L, "cols", r->dump_cols[i]);
        qs__lua_set_str(L, "path", path);
        lua_rawseti(L, -2, i + 1);
    }
}

int qs__lua_model_profile(lua_State *L) {
    qs_model *m = qs__lua_check_model(L, 1);
    static const char *const keys[] = {
        QS_LUA_WINDOW_KEYS, "tokens",       "sites", "layers",  "tau",  "phi", "massive_abs",
        "massive_ratio",    "massive_rule", "int8",  "results", "dump", NULL};
    qs__lua_check_keys(L, 2, "m:profile", keys);
    lua_getfield(L, 2, "text");
    qs_text *t = qs__lua_check_text(L, -1);
    lua_pop(L, 1);
    if (!m->tok) return luaL_error(L, "m:profile: the model has no tokenizer");
    qs_profile_request req = {.capture = qs_capture_opts_default()};
    qs_capture_opts *o = &req.capture;
    if (qs_site_mask_parse(qs__lua_opt_str(L, 2, "sites", "all"), &o->site_mask))
        return qs__lua_fail(L, "m:profile");
    /* the layer selection lives in a userdata: freed by the GC whatever raises later */
    unsigned char *sel = lua_newuserdatauv(L, (size_t)m->cfg.n_layers + 1, 0);
    if (qs_site_layers_select(&m->cfg, qs__lua_opt_str(L, 2, "layers", "all"), sel))
        return qs__lua_fail(L, "m:profile");
    o->layers = sel;
    o->chan.tau = qs__lua_opt_num(L, 2, "tau", o->chan.tau);
    o->chan.phi = o->outl.min_token_frac = qs__lua_opt_num(L, 2, "phi", o->chan.phi);
    /* the rule for this model's width, then explicit thresholds over it */
    const char *rule = qs__lua_opt_str(L, 2, "massive_rule", "auto");
    o->outl.massive_rule = qs_massive_rule_from_name(rule);
    if (o->outl.massive_rule < 0 || o->outl.massive_rule == QS_MASSIVE_CUSTOM)
        return luaL_error(L, "m:profile: massive_rule '%s': expected auto, published or ratio",
                          rule);
    qs_outlier_config_resolve(&o->outl, m->cfg.dim);
    double mabs = qs__lua_opt_num(L, 2, "massive_abs", -1);
    double mratio = qs__lua_opt_num(L, 2, "massive_ratio", -1);
    if (mabs >= 0 || mratio >= 0) o->outl.massive_rule = QS_MASSIVE_CUSTOM;
    if (mabs >= 0) o->outl.massive_abs = mabs;
    if (mratio >= 0) o->outl.massive_ratio = mratio;
    o->chan.int8_threshold = qs__lua_opt_num(L, 2, "int8", o->chan.int8_threshold);
    req.max_tokens = (long)qs__lua_opt_i64(L, 2, "tokens", 0);
    lua_getfield(L, 2, "results");
    if (!lua_isnil(L, -1)) req.results = qs__lua_check_results(L, -1);
    lua_pop(L, 1);
    req.n_dumps = read_dumps(L, 2, m, req.dumps);
    if (req.n_dumps && !req.results)
        return luaL_error(L, "m:profile: dump needs results = <a qs.results file>");
    qs_window_opts wo;
    qs__lua_window_opts(L, 2, m, &wo);
    wo.score = QS_SCORE_ALL;
    lua_capture *u = lua_newuserdatauv(L, sizeof *u, 0); /* created empty, filled on success */
    u->c = NULL;
    u->n_layers = m->cfg.n_layers;
    luaL_setmetatable(L, QS_LUA_CAPTURE);
    int capture_idx = lua_gettop(L);
    qs_windows ws;
    qs__lua_windows_build(L, &ws, m->tok, t, &wo, "m:profile");
    qs_profile_result r;
    int rc = qs_profile_engine_run(&r, m, &ws, &req);
    qs_windows_free(&ws);
    if (rc) return qs__lua_fail(L, "m:profile");
    u->c = r.capture; /* the userdata owns it from here (prof.capture) */
    r.capture = NULL;
    lua_createtable(L, 0, 10);
    qs__lua_set_int(L, "tokens", r.info.tokens);
    qs__lua_set_int(L, "windows", r.info.windows);
    qs__lua_set_num(L, "seconds", r.info.seconds);
    qs__lua_set_int(L, "memory_bytes", qs_capture_memory_bytes(u->c, wo.ctx));
    push_site_summaries(L, u->c);
    push_attention(L, u->c);
    push_dumps(L, &req, &r);
    lua_setfield(L, -2, "dumps");
    push_weights(L, r.weights, r.n_weights);
    lua_setfield(L, -2, "weights");
    qs_profile_result_free(&r);
    lua_pushvalue(L, capture_idx);
    lua_setfield(L, -2, "capture");
    return 1;
}

int qs__lua_qs_outlier_channels(lua_State *L) {
    const qs_capture *c = check_prof(L, 1);
    qs_outlier_config cfg = qs_capture_get_opts(c)->outl;
    if (lua_istable(L, 2)) {
        static const char *const keys[] = {"min_token_frac", NULL};
        qs__lua_check_keys(L, 2, "qs.outlier_channels", keys);
        cfg.min_token_frac = qs__lua_opt_num(L, 2, "min_token_frac", cfg.min_token_frac);
    }
    lua_newtable(L);
    int k = 0;
    for (int s = 0; s < QS_SITE_COUNT; s++) {
        int nl = qs_capture_site_layers(c, s), C = qs_capture_site_width(c, s);
        qs_outlier_channel *found = malloc((size_t)C * sizeof *found);
        int *count = calloc((size_t)C, sizeof *count); /* layers holding each channel */
        if (!found || !count) {
            free(found);
            free(count);
            return luaL_error(L, "out of memory");
        }
        for (int pass = 0; pass < 2; pass++) {
            for (int l = 0; l < nl; l++) {
                const qs_chanstats *cs = qs_capture_chanstats(c, s, l);
                int n = 0;
                if (!cs || qs_outliers_channels(found, &n, cs, &cfg)) continue;
                for (int i = 0; i < n; i++) {
                    if (pass == 0) {
                        count[found[i].channel]++;
                        continue;
                    }
                    lua_createtable(L, 0, 8);
                    qs__lua_set_str(L, "site", qs_site_name(s));
                    qs__lua_set_int(L, "layer", l);
                    qs__lua_set_int(L, "channel", found[i].channel);
                    qs__lua_set_num(L, "absmax", found[i].absmax);
                    qs__lua_set_num(L, "ratio_to_median", found[i].ratio_to_median);
                    qs__lua_set_num(L, "token_fraction", found[i].token_fraction);
                    qs__lua_set_num(L, "sequence_fraction", found[i].sequence_fraction);
                    qs__lua_set_int(L, "shared_layers", count[found[i].channel]);
                    lua_rawseti(L, -2, ++k);
                }
            }
        }
        free(found);
        free(count);
    }
    return 1;
}

int qs__lua_qs_outlier_tokens(lua_State *L) {
    const qs_capture *c = check_prof(L, 1);
    int n;
    int64_t total;
    const qs_capture_token *t = qs_capture_tokens(c, &n, &total);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 0, 8);
        qs__lua_set_str(L, "site", qs_site_name(t[i].site));
        qs__lua_set_int(L, "layer", t[i].layer);
        qs__lua_set_int(L, "window", t[i].window);
        qs__lua_set_int(L, "position", t[i].position);
        qs__lua_set_int(L, "token_id", t[i].token_id);
        qs__lua_set_int(L, "channel", t[i].channel);
        qs__lua_set_num(L, "value", t[i].value);
        qs__lua_set_num(L, "ratio", t[i].ratio);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

int qs__lua_model_plant(lua_State *L) {
    qs_model *m = qs__lua_check_model(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int n = (int)luaL_len(L, 2);
    if (n < 1) return luaL_error(L, "m:plant: give a list of {site=, layer=, channel=, scale=}");
    qs_plant_spec *sp = lua_newuserdatauv(L, (size_t)n * sizeof *sp, 0); /* freed by the GC */
    static const char *const keys[] = {"site", "layer", "channel", "scale", NULL};
    for (int i = 0; i < n; i++) {
        lua_geti(L, 2, i + 1);
        int e = lua_gettop(L);
        qs__lua_check_keys(L, e, "m:plant", keys);
        char layer[32], channel[32], scale[64];
        lua_getfield(L, e, "layer");
        if (lua_type(L, -1) == LUA_TSTRING)
            snprintf(layer, sizeof layer, "%s", lua_tostring(L, -1));
        else
            snprintf(layer, sizeof layer, "%lld", (long long)luaL_checkinteger(L, -1));
        lua_pop(L, 1);
        snprintf(channel, sizeof channel, "%lld", (long long)qs__lua_opt_int(L, e, "channel", -1));
        snprintf(scale, sizeof scale, "%.17g", qs__lua_opt_num(L, e, "scale", 0));
        const char *site = qs__lua_opt_str(L, e, "site", "");
        if (qs_plant_parse_parts(&sp[i], site, layer, channel, scale) ||
            qs_plant_check(&m->cfg, &sp[i]))
            return qs__lua_fail(L, "m:plant");
        lua_pop(L, 1);
    }
    /* a twin: it shares every tensor the plants leave alone, and the tokenizer, and keeps
     * the original alive (model.h) */
    qs_lua_model *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->m = NULL;
    luaL_setmetatable(L, QS_LUA_MODEL);
    if (qs_model_twin(&u->m, m)) return qs__lua_fail(L, "m:plant");
    if (qs_plant_apply(u->m, sp, n)) return qs__lua_fail(L, "m:plant");
    return 1;
}

/* m:save(path [, {format = "llama2c"|"gguf"|"hf", dtype = "f32"|"f16"|"bf16"|"q8_0"|"q4_0",
 *                   shard_gb = 5}]): every tensor read from its stored bytes a block at a time */
int qs__lua_model_save(lua_State *L) {
    qs_model *m = qs__lua_check_model(L, 1);
    const char *path = luaL_checkstring(L, 2);
    const char *fmt = "llama2c", *dt = "f32";
    double shard_gb = 5;
    if (!lua_isnoneornil(L, 3)) {
        static const char *const keys[] = {"format", "dtype", "shard_gb", NULL};
        qs__lua_check_keys(L, 3, "m:save", keys);
        fmt = qs__lua_opt_str(L, 3, "format", fmt);
        dt = qs__lua_opt_str(L, 3, "dtype", dt);
        shard_gb = qs__lua_opt_num(L, 3, "shard_gb", shard_gb);
    }
    int format = qs_save_format_parse(fmt), dtype = qs_save_dtype_parse(dt);
    if (format < 0) return luaL_error(L, "m:save: unknown format '%s' (llama2c, gguf, hf)", fmt);
    if (dtype < 0) return luaL_error(L, "m:save: unknown dtype '%s'", dt);
    if (!(shard_gb >= 0)) return luaL_error(L, "m:save: shard_gb must be >= 0");
    qs__lua_write_check(L, path, "m:save", 0);
    if (qs_model_save(m, path, format, (uint32_t)dtype, (uint64_t)(shard_gb * 1e9)))
        return qs__lua_fail(L, "m:save");
    qs__lua_write_created(L, path);
    return 0;
}

const luaL_Reg qs__lua_capture_meta[] = {{"__gc", capture_gc}, {NULL, NULL}};
