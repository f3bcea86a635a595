/* Raw activations into Lua: one site × layer of a real forward pass as a plain array, for
 * experiments that quantize what the model actually computes (qs.quantize takes it as is).
 *   m:activations{text=, site=, layer=, tokens=256, <window options>}
 *       -> {values = {T * C numbers, row-major: token t, channel c at t * C + c + 1},
 *           rows = T, cols = C, site, layer, token_ids = {T ids}}
 * Only that site and layer are captured (no statistics beyond the cheap ones); the rows are
 * the first `tokens` tokens of the text's windows, in order. At most 2^22 values: larger
 * slices belong in HDF5 (m:profile{dump=..., results=out}). */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "error.h"
#include "lua_aux.h"
#include "lua_qs.h"
#include "profile.h"

#define MAX_VALUES (1L << 22)

/* A dump sink that copies rows into a buffer of rows_cap × C floats. */
typedef struct rows_sink {
    float *x;
    long rows, rows_cap;
    int C;
} rows_sink;

static int rows_sink_fn(void *user, int site, int layer, const float *x, int T, int C) {
    (void)site, (void)layer;
    rows_sink *s = user;
    if (C != s->C || T > s->rows_cap - s->rows) /* the capture cuts T to the bound */
        return qs_error_set(QS_ERR_ARG, "activations: %d rows of width %d do not fit", T, C);
    memcpy(s->x + (size_t)s->rows * (size_t)C, x, (size_t)T * (size_t)C * sizeof *x);
    s->rows += T;
    return QS_OK;
}

int qs__lua_model_activations(lua_State *L) {
    qs_model *m = qs__lua_check_model(L, 1);
    static const char *const keys[] = {QS_LUA_WINDOW_KEYS, "site", "layer", "tokens", NULL};
    qs__lua_check_keys(L, 2, "m:activations", keys);
    lua_getfield(L, 2, "text");
    qs_text *t = qs__lua_check_text(L, -1);
    lua_pop(L, 1);
    if (!m->tok) return luaL_error(L, "m:activations: the model has no tokenizer");
    int site, layer;
    qs__lua_site_layer(L, 2, "m:activations", &m->cfg, &site, &layer);
    const char *site_name = qs_site_name(site);
    lua_Integer tokens = qs__lua_opt_i64(L, 2, "tokens", 256);
    int C = qs_site_width(&m->cfg, site);
    if (tokens < 1 || tokens > MAX_VALUES / C)
        return luaL_error(L,
                          "m:activations: tokens must be 1..%d for %s (%d channels); store larger "
                          "slices with m:profile{dump=..., results=out}",
                          (int)(MAX_VALUES / C), site_name, C);
    qs_window_opts wo;
    qs__lua_window_opts(L, 2, m, &wo);
    wo.score = QS_SCORE_ALL;

    /* the buffers are userdata, allocated before any C object (a Lua allocation may raise
     * at the script's memory limit; the GC frees them); the C objects after them are freed
     * on every path before anything can raise again */
    rows_sink sink = {lua_newuserdatauv(L, (size_t)tokens * (size_t)C * sizeof(float), 0), 0,
                      (long)tokens, C};
    int *ids = lua_newuserdatauv(L, (size_t)tokens * sizeof(int), 0);
    unsigned char *sel = calloc((size_t)m->cfg.n_layers + 1, 1);
    if (!sel) return luaL_error(L, "m:activations: out of memory");
    sel[layer] = 1;
    qs_capture_opts o = qs_capture_opts_default();
    o.site_mask = QS_SITE_BIT(site);
    o.layers = sel;
    o.whole_tensor = 0;
    qs_windows ws;
    qs_capture *c = NULL;
    qs_profile_info info;
    int rc = qs_windows_build(&ws, m->tok, t->data, t->len, &wo);
    if (rc == QS_OK) {
        rc = qs_capture_create(&c, &m->cfg, &o);
        if (rc == QS_OK)
            rc = qs_capture_add_dump(c, site, layer, (long)tokens, rows_sink_fn, &sink);
        if (rc == QS_OK) rc = qs_profile_run(c, m, &ws, (long)tokens, &info);
        qs_capture_free(c);
        if (rc == QS_OK) { /* the token of each row: the windows' tokens in order */
            long k = 0;
            for (int w = 0; w < ws.n && k < sink.rows; w++)
                for (int j = 0; j < ws.w[w].n && k < sink.rows; j++) ids[k++] = ws.w[w].tokens[j];
        }
        qs_windows_free(&ws);
    }
    free(sel);
    if (rc) return qs__lua_fail(L, "m:activations");

    /* from here a Lua error (the memory limit) may raise: nothing C-owned is left */
    long n = sink.rows * C;
    lua_createtable(L, 0, 6);
    lua_createtable(L, (int)n, 0);
    for (long i = 0; i < n; i++) {
        lua_pushnumber(L, sink.x[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "values");
    lua_createtable(L, (int)sink.rows, 0);
    for (long i = 0; i < sink.rows; i++) {
        lua_pushinteger(L, ids[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "token_ids");
    qs__lua_set_int(L, "rows", sink.rows);
    qs__lua_set_int(L, "cols", C);
    qs__lua_set_str(L, "site", qs_site_name(site));
    qs__lua_set_int(L, "layer", layer);
    return 1;
}
