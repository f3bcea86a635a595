/* The distributed loops of the qs module (dist.h): m:sweep{} and m:eval{configs = {...}}.
 * Everything else a script does runs on rank 0 only; these two loops hand their items to
 * every rank when the script runs under mpirun, take the slice of `qscope run --shard I/N`
 * and skip what `--resume` finds in their results file. The other ranks rebuild a loop from
 * files, so it spreads only when its model was loaded from a file (qs.model) and its texts
 * too; a loop over a copy made in the script (m:plant, ...) runs on rank 0 alone.
 *
 *   m:eval{configs = {"W8A8 per-token", "W4A16 g128", ...}, text=, <window options>,
 *          attribute = "sites"|"layers", calib = text, calib_windows = 8,
 *          results = out, name = "eval"}
 *     -> array of rows {config, scope, <every field of m:eval>} in arrival order; a config
 *        that cannot run is a row {config, scope, error}; with results, rows are appended
 *        to ppl/<name> (the columns of qscope eval -o) as they arrive. */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "dist.h"
#include "dist_jobs.h"
#include "error.h"
#include "eval_fields.h"
#include "h5store.h"
#include "lua_aux.h"
#include "lua_qs.h"
#include "result_tables.h"

#define FILES_KEY "qs.dist.files" /* weak-keyed: model userdata -> {path, tokenizer} */

void qs__lua_dist_note_file(lua_State *L, int idx, const char *path, const char *tokenizer) {
    idx = lua_absindex(L, idx);
    if (lua_getfield(L, LUA_REGISTRYINDEX, FILES_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, FILES_KEY);
    }
    lua_pushvalue(L, idx);
    lua_createtable(L, 0, 2);
    lua_pushstring(L, path);
    lua_setfield(L, -2, "path");
    if (tokenizer) {
        lua_pushstring(L, tokenizer);
        lua_setfield(L, -2, "tokenizer");
    }
    lua_settable(L, -3);
    lua_pop(L, 1);
}

/* The files another rank loads to get the model at idx, or 0 when it is a copy made in the
 * script. The strings stay valid while the model lives. */
static int model_files(lua_State *L, int idx, const char **path, const char **tokenizer) {
    idx = lua_absindex(L, idx);
    *path = *tokenizer = NULL;
    if (lua_getfield(L, LUA_REGISTRYINDEX, FILES_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pushvalue(L, idx);
    int found = lua_gettable(L, -2) == LUA_TTABLE;
    if (found) {
        lua_getfield(L, -1, "path");
        *path = lua_tostring(L, -1);
        lua_getfield(L, -2, "tokenizer");
        *tokenizer = lua_tostring(L, -1);
        lua_pop(L, 2);
    }
    lua_pop(L, 2);
    return found && *path;
}

int qs__lua_dist_wanted(lua_State *L, int has_results) {
    (void)L;
    return has_results || qs_dist_size() > 1;
}

/* The run options of a loop: `qscope run --shard/--resume` when it writes a file. */
static qs_dist_opts loop_opts(int has_results) {
    qs_dist_opts o = {0};
    const qs_dist_opts *s = qs_dist_script_opts();
    if (s && has_results) o = *s;
    o.print_progress = o.shard_count > 0 || o.resume || qs_dist_size() > 1;
    return o;
}

/* Source and identity of a loop over the model at model_idx and text t (may be NULL). */
static int loop_source(lua_State *L, int model_idx, const qs_text *t, const qs_window_opts *wo,
                       qs_dist_source *src, int *has_src, char msha[65], char tsha[65]) {
    memset(src, 0, sizeof *src);
    msha[0] = tsha[0] = '\0';
    const char *path, *tok;
    *has_src = model_files(L, model_idx, &path, &tok);
    int rc = QS_OK;
    if (*has_src) {
        src->model_path = path;
        src->tokenizer_path = tok;
        rc = qs_dist_sha256(path, msha);
    }
    if (rc == QS_OK && t) {
        src->text_path = t->path;
        src->utf8_policy = t->n_replaced ? QS_UTF8_REPLACE : QS_UTF8_STRICT;
        src->wo = *wo;
        src->has_wo = 1;
        rc = qs_dist_sha256(t->path, tsha);
    }
    return rc;
}

int qs__lua_dist_sweep(lua_State *L, int model_idx, const qs_model *m, const qs_text *t,
                       const qs_window_opts *wo, const qs_sweep_opts *o, qs_h5 *h,
                       qs_h5_table *table, const char *name,
                       int (*sink)(void *user, const void *row), void *user) {
    qs_windows ws = {0};
    int rc = QS_OK;
    if (o->activations) {
        if (!m->tok) return qs_error_set(QS_ERR_ARG, "the model has no tokenizer");
        qs__lua_windows_build(L, &ws, m->tok, t, wo, "m:sweep");
    }
    qs_dist_source src;
    int has_src;
    char msha[65], tsha[65];
    rc = loop_source(L, model_idx, o->activations ? t : NULL, wo, &src, &has_src, msha, tsha);
    qs_dist_job *job = NULL;
    if (rc == QS_OK)
        rc = qs_dist_sweep_job(&job, m, o->activations ? &ws : NULL, o, has_src ? &src : NULL);
    char path[256];
    snprintf(path, sizeof path, "sweeps/%s", name);
    qs_dist_out out = {h, table, path, msha, tsha, sink, user};
    qs_dist_opts dopt = loop_opts(h != NULL);
    if (rc == QS_OK) rc = qs_dist_run(job, &dopt, &out, NULL);
    qs_dist_job_free(job);
    qs_windows_free(&ws);
    return rc;
}

/* ---- m:eval{configs = {...}} ---------------------------------------------------------------- */

static int push_eval_row(void *user, const void *row) {
    lua_State *L = user;
    const qs_dist_eval_row *r = row;
    lua_createtable(L, 0, QS_EVAL_NFIELDS + 3);
    if (!r->error[0]) {
        qs_field f[QS_EVAL_NFIELDS];
        qs_eval_fields(&r->r, f);
        qs__lua_set_fields(L, f, QS_EVAL_NFIELDS);
    } else {
        qs__lua_set_str(L, "error", r->error);
    }
    qs__lua_set_str(L, "config", r->config);
    qs__lua_set_str(L, "scope", r->scope);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    return QS_OK;
}

int qs__lua_model_eval_list(lua_State *L) {
    qs_model *m = qs__lua_check_model(L, 1);
    static const char *const keys[] = {QS_LUA_WINDOW_KEYS, "configs", "attribute", "calib",
                                       "calib_windows",    "results", "name",      NULL};
    qs__lua_check_keys(L, 2, "m:eval", keys);
    lua_getfield(L, 2, "configs");
    luaL_checktype(L, -1, LUA_TTABLE);
    int n = (int)lua_rawlen(L, -1);
    if (n < 1) return luaL_error(L, "m:eval: configs must list at least one config name");
    const char **names = lua_newuserdatauv(L, (size_t)n * sizeof *names, 0);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, -2, i + 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "m:eval: configs[%d] must be a config name", i + 1);
        names[i] = lua_tostring(L, -1); /* kept alive by the configs table */
        lua_pop(L, 1);
    }
    const char *attr = qs__lua_opt_str(L, 2, "attribute", NULL);
    if (attr && strcmp(attr, "sites") && strcmp(attr, "layers"))
        return luaL_error(L, "m:eval: attribute must be \"sites\" or \"layers\"");
    lua_getfield(L, 2, "text");
    qs_text *t = qs__lua_check_text(L, -1);
    lua_pop(L, 1);
    if (!m->tok) return luaL_error(L, "m:eval: the model has no tokenizer");
    qs_window_opts wo;
    qs__lua_window_opts(L, 2, m, &wo);
    int cn = (int)qs__lua_opt_int(L, 2, "calib_windows", 8);
    lua_getfield(L, 2, "calib");
    qs_text *ct = lua_isnil(L, -1) ? NULL : qs__lua_check_text(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 2, "results");
    qs_h5 *h = lua_isnil(L, -1) ? NULL : qs__lua_check_results(L, -1);
    lua_pop(L, 1);
    const char *name = qs__lua_opt_str(L, 2, "name", "eval");
    /* every config parses before anything runs: a typo raises */
    for (int i = 0; i < n; i++) {
        qs_quant_config c;
        if (qs_quant_config_parse(&c, names[i])) return qs__lua_fail(L, "m:eval");
    }
    qs_windows ws, cws = {0};
    qs__lua_windows_build(L, &ws, m->tok, t, &wo, "m:eval");
    int rc = QS_OK;
    if (ct) {
        qs_window_opts co = wo;
        co.doc_sep = NULL;
        co.max_tokens = 0;
        rc = qs_windows_build(&cws, m->tok, ct->data, ct->len, &co);
        if (rc == QS_OK && cws.n > cn) cws.n = cn;
    }
    qs_dist_source src;
    int has_src;
    char msha[65], tsha[65];
    if (rc == QS_OK) rc = loop_source(L, 1, t, &wo, &src, &has_src, msha, tsha);
    qs_dist_calib cal = {ct ? ct->path : NULL, ct && ct->n_replaced ? QS_UTF8_REPLACE : 0, cn, 0};
    qs_dist_job *job = NULL;
    if (rc == QS_OK)
        rc = qs_dist_eval_job(&job, m, &ws, names, n, attr, ct ? &cws : NULL, &cal,
                              has_src ? &src : NULL);
    qs_h5_table *table = NULL;
    if (rc == QS_OK && h) rc = qs_restable_ppl_open(&table, h, name);
    lua_newtable(L);
    char path[256];
    snprintf(path, sizeof path, "ppl/%s", name);
    qs_dist_out out = {h, table, path, msha, tsha, push_eval_row, L};
    qs_dist_opts dopt = loop_opts(h != NULL);
    if (rc == QS_OK) rc = qs_dist_run(job, &dopt, &out, NULL);
    int c = qs_h5_table_close(table);
    if (rc == QS_OK) rc = c;
    qs_dist_job_free(job);
    qs_windows_free(&ws);
    qs_windows_free(&cws);
    if (rc) return qs__lua_fail(L, "m:eval");
    return 1;
}
