/* m:sweep{bits="8,6,4,3", gran="tensor,channel,group:32,group:128", clip="absmax,mse",
 *         scheme="symmetric", sites="attn_in,...", targets="weights,activations",
 *         text=, tokens=1024, <window options>, fp32_scales=false, results=out, name="sweep"}
 *   -> array of rows {target, tensor, layer, rows, cols, bits, scheme, granularity, group,
 *      clip, clip_value, mse, sqnr_db, max_err, bits_per_value, n_clipped, levels_mean,
 *      levels_min, levels_max, error}; with results, also appended to sweeps/<name>.
 * A configuration that cannot run is a row with its error; the sweep goes on. */
#include <lauxlib.h>
#include <string.h>

#include "error.h"
#include "h5store.h"
#include "lua_aux.h"
#include "lua_qs.h"
#include "remedy.h"
#include "result_tables.h"
#include "sweep.h"

typedef struct sweep_ctx {
    lua_State *L;
    int n;
    qs_h5_table *table;
} sweep_ctx;

static int push_row(void *user, const qs_sweep_row *r) {
    sweep_ctx *s = user;
    lua_State *L = s->L;
    qs_field f[QS_SWEEP_NFIELDS];
    qs_sweep_row_fields(r, f);
    lua_createtable(L, 0, QS_SWEEP_NFIELDS);
    qs__lua_set_fields(L, f, QS_SWEEP_NFIELDS);
    lua_rawseti(L, -2, ++s->n);
    return s->table ? qs_restable_sweep_append(s->table, r) : QS_OK;
}

static int push_dist_row(void *user, const void *r) { return push_row(user, r); }

int qs__lua_model_sweep(lua_State *L) {
    qs_model *m = qs__lua_check_model(L, 1);
    if (lua_isnoneornil(L, 2)) lua_newtable(L);
    static const char *const keys[] = {QS_LUA_WINDOW_KEYS,
                                       "bits",
                                       "gran",
                                       "clip",
                                       "scheme",
                                       "sites",
                                       "targets",
                                       "tokens",
                                       "fp32_scales",
                                       "results",
                                       "name",
                                       "remedy",
                                       "calib",
                                       "calib_windows",
                                       NULL};
    qs__lua_check_keys(L, 2, "m:sweep", keys);
    qs_sweep_opts o;
    qs_sweep_opts_default(&o);
    const char *v;
    if ((v = qs__lua_opt_str(L, 2, "bits", NULL)) && qs_sweep_parse_bits(&o, v))
        return qs__lua_fail(L, "m:sweep");
    if ((v = qs__lua_opt_str(L, 2, "gran", NULL)) && qs_sweep_parse_grans(&o, v))
        return qs__lua_fail(L, "m:sweep");
    if ((v = qs__lua_opt_str(L, 2, "clip", NULL)) && qs_sweep_parse_clips(&o, v))
        return qs__lua_fail(L, "m:sweep");
    if ((v = qs__lua_opt_str(L, 2, "scheme", NULL)) && qs_sweep_parse_schemes(&o, v))
        return qs__lua_fail(L, "m:sweep");
    if ((v = qs__lua_opt_str(L, 2, "sites", NULL)) && qs_site_mask_parse(v, &o.site_mask))
        return qs__lua_fail(L, "m:sweep");
    qs_remedy remedy;
    if (qs_sweep_remedy_parse(&o, &remedy, qs__lua_opt_str(L, 2, "remedy", NULL)))
        return qs__lua_fail(L, "m:sweep");
    o.fp32_scales = qs__lua_opt_bool(L, 2, "fp32_scales", o.fp32_scales);
    o.tokens = (long)qs__lua_opt_i64(L, 2, "tokens", o.tokens);
    lua_getfield(L, 2, "text");
    int has_text = !lua_isnil(L, -1);
    qs_text *t = has_text ? qs__lua_check_text(L, -1) : NULL;
    lua_pop(L, 1);
    const char *targets =
        qs__lua_opt_str(L, 2, "targets", has_text ? "weights,activations" : "weights");
    o.weights = strstr(targets, "weights") != NULL;
    o.activations = strstr(targets, "activations") != NULL;
    if (!o.weights && !o.activations)
        return luaL_error(L, "m:sweep: targets must name weights and/or activations");
    if (o.activations && !has_text) return luaL_error(L, "m:sweep: activation targets need text=");
    qs_window_opts wo = {0}; /* parsed before any file is opened: a bad option raises cleanly */
    int transform = remedy.rotate || remedy.smooth || remedy.awq;
    if (o.activations || transform) qs__lua_window_opts(L, 2, m, &wo);
    if (transform) {
        /* the sweep runs on a copy with the remedies folded in; a userdata frees it */
        qs_lua_model *u = lua_newuserdatauv(L, sizeof *u, 1);
        u->m = NULL;
        luaL_setmetatable(L, QS_LUA_MODEL);
        lua_pushvalue(L, 1);
        lua_setiuservalue(L, -2, 1);
        lua_replace(L, 1); /* keeps the original alive through the user value */
        lua_getfield(L, 2, "calib");
        qs_text *ct = lua_isnil(L, -1) ? t : qs__lua_check_text(L, -1);
        lua_pop(L, 1);
        if ((remedy.smooth || remedy.awq) && !ct)
            return luaL_error(L, "m:sweep: remedy smooth/awq needs calib= or text=");
        qs_windows cws = {0};
        qs_window_opts co = wo;
        co.doc_sep = NULL;
        co.max_tokens = 0;
        int cn = (int)qs__lua_opt_int(L, 2, "calib_windows", 8);
        int rc0 = ct && m->tok ? qs_windows_build(&cws, m->tok, ct->data, ct->len, &co) : QS_OK;
        if (cws.n > cn) cws.n = cn;
        qs_quant_config cfg;
        qs_quant_config_default(&cfg);
        cfg.remedy = remedy;
        if (rc0 == QS_OK) rc0 = qs_remedy_transform(&u->m, m, &cfg, &cws, NULL);
        qs_windows_free(&cws);
        if (rc0) return qs__lua_fail(L, "m:sweep");
        m = u->m;
    }
    sweep_ctx s = {L, 0, NULL};
    lua_getfield(L, 2, "results");
    qs_h5 *h = lua_isnil(L, -1) ? NULL : qs__lua_check_results(L, -1);
    lua_pop(L, 1);
    if (h && qs_restable_sweep_open(&s.table, h, qs__lua_opt_str(L, 2, "name", "sweep")))
        return qs__lua_fail(L, "m:sweep");
    lua_newtable(L);
    int rc = QS_OK;
    int dist = qs__lua_dist_wanted(L, h != NULL);
    if (dist) { /* through the distribution layer, which writes the table itself */
        sweep_ctx lua_only = {L, 0, NULL};
        rc = qs__lua_dist_sweep(L, 1, m, t, &wo, &o, h, s.table,
                                qs__lua_opt_str(L, 2, "name", "sweep"), push_dist_row, &lua_only);
    }
    if (rc == QS_OK && !dist && o.weights) rc = qs_sweep_weights(m, &o, push_row, &s);
    if (rc == QS_OK && !dist && o.activations) {
        if (!m->tok) rc = qs_error_set(QS_ERR_ARG, "the model has no tokenizer");
        qs_windows ws;
        if (rc == QS_OK) rc = qs_windows_build(&ws, m->tok, t->data, t->len, &wo);
        if (rc == QS_OK) {
            qs_sweep_capture cap;
            rc = qs_sweep_capture_run(&cap, m, &ws, o.site_mask, o.tokens);
            if (rc == QS_OK) rc = qs_sweep_activations(&cap, &o, push_row, &s);
            qs_sweep_capture_free(&cap);
            qs_windows_free(&ws);
        }
    }
    if (s.table) {
        int c = qs_h5_table_close(s.table);
        if (rc == QS_OK) rc = c;
    }
    if (rc) return qs__lua_fail(L, "m:sweep");
    return 1;
}
