/* The helpers every Lua binding shares (lua_aux.h). */
#include "lua_aux.h"

#include <lauxlib.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "lua_sandbox.h"
#include "sites.h"

int qs__lua_fail(lua_State *L, const char *what) {
    return luaL_error(L, "%s: %s", what, qs_error_message());
}

int qs__lua_nil_error(lua_State *L, const char *what) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", what, qs_error_message());
    return 2;
}

void qs__lua_check_keys(lua_State *L, int idx, const char *what, const char *const *allowed) {
    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "%s: option keys must be names", what);
        const char *k = lua_tostring(L, -1);
        int ok = 0;
        for (int i = 0; allowed[i]; i++) ok |= strcmp(k, allowed[i]) == 0;
        if (!ok) luaL_error(L, "%s: unknown option '%s'", what, k);
    }
}

lua_Integer qs__lua_opt_i64(lua_State *L, int idx, const char *key, lua_Integer def) {
    lua_getfield(L, idx, key);
    lua_Integer v = def;
    if (!lua_isnil(L, -1)) {
        int ok;
        v = lua_tointegerx(L, -1, &ok);
        if (!ok) luaL_error(L, "option '%s' must be an integer", key);
    }
    lua_pop(L, 1);
    return v;
}

lua_Integer qs__lua_opt_int(lua_State *L, int idx, const char *key, lua_Integer def) {
    lua_Integer v = qs__lua_opt_i64(L, idx, key, def);
    /* callers store these in an int: 2^32 + 64 must not quietly run as 64 */
    if (v < INT_MIN || v > INT_MAX)
        luaL_error(L, "option '%s' = %I is out of range (at most %d)", key, (LUAI_UACINT)v,
                   INT_MAX);
    return v;
}

lua_Number qs__lua_opt_num(lua_State *L, int idx, const char *key, lua_Number def) {
    lua_getfield(L, idx, key);
    lua_Number v = def;
    if (!lua_isnil(L, -1)) {
        int ok;
        v = lua_tonumberx(L, -1, &ok);
        if (!ok || !isfinite(v)) luaL_error(L, "option '%s' must be a finite number", key);
    }
    lua_pop(L, 1);
    return v;
}

const char *qs__lua_opt_str(lua_State *L, int idx, const char *key, const char *def) {
    lua_getfield(L, idx, key);
    const char *v = def;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "option '%s' must be a string", key);
        v = lua_tostring(L, -1);
    }
    lua_pop(L, 1); /* the string stays alive: it is referenced by the option table */
    return v;
}

int qs__lua_opt_bool(lua_State *L, int idx, const char *key, int def) {
    lua_getfield(L, idx, key);
    int v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

void qs__lua_set_num(lua_State *L, const char *key, double v) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, key);
}

void qs__lua_set_int(lua_State *L, const char *key, long long v) {
    lua_pushinteger(L, v);
    lua_setfield(L, -2, key);
}

void qs__lua_set_str(lua_State *L, const char *key, const char *v) {
    lua_pushstring(L, v);
    lua_setfield(L, -2, key);
}

void qs__lua_set_fields(lua_State *L, const qs_field *f, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (f[i].kind == QS_FIELD_STR)
            qs__lua_set_str(L, f[i].name, f[i].str ? f[i].str : "");
        else if (f[i].kind == QS_FIELD_INT)
            qs__lua_set_int(L, f[i].name, f[i].i);
        else
            qs__lua_set_num(L, f[i].name, f[i].num);
    }
}

void qs__lua_window_opts(lua_State *L, int idx, const qs_model *m, qs_window_opts *wo) {
    qs_window_opts_default(wo);
    wo->ctx = (int)qs__lua_opt_int(L, idx, "ctx", m->cfg.seq_len < 512 ? m->cfg.seq_len : 512);
    if (wo->ctx < 2 || wo->ctx > m->cfg.seq_len)
        luaL_error(L, "option 'ctx' = %d must be in 2..%d (the model's context)", wo->ctx,
                   m->cfg.seq_len);
    wo->stride = (int)qs__lua_opt_int(L, idx, "stride", 0);
    wo->max_tokens = (long)qs__lua_opt_i64(L, idx, "max_tokens", 0);
    wo->skip_docs = (int)qs__lua_opt_int(L, idx, "skip_docs", 0);
    wo->doc_sep = qs__lua_opt_str(L, idx, "docs", NULL);
    if (wo->doc_sep) {
        lua_getfield(L, idx, "docs");
        size_t len = lua_rawlen(L, -1);
        lua_pop(L, 1);
        if (strlen(wo->doc_sep) != len)
            luaL_error(L, "option 'docs' holds a NUL byte; give the separator text without it");
    }
    const char *s = qs__lua_opt_str(L, idx, "score", "half");
    if ((wo->score = qs_score_mode_parse(s)) < 0)
        luaL_error(L, "option 'score' = '%s' must be half or all", s);
    const char *b = qs__lua_opt_str(L, idx, "bos", "replace");
    if ((wo->bos = qs_bos_mode_parse(b)) < 0)
        luaL_error(L, "option 'bos' = '%s' must be replace, prepend or none", b);
}

void qs__lua_windows_build(lua_State *L, qs_windows *ws, const qs_tokenizer *tok, const qs_text *t,
                           const qs_window_opts *wo, const char *what) {
    /* stream mode with a budget tokenizes only a prefix (windows.c): about 16 bytes per
     * token at most for the texts qscope reads, plus a window of slack */
    size_t bytes = t->len;
    if (wo->max_tokens > 0 && !wo->doc_sep) {
        double need = 16.0 * ((double)wo->max_tokens + 2.0 * wo->ctx) + 65536.0;
        if (need < (double)bytes) bytes = (size_t)need;
    }
    size_t charge =
        bytes < SIZE_MAX / QS_LUA_TOKENIZE_BYTES ? bytes * QS_LUA_TOKENIZE_BYTES : SIZE_MAX;
    qs_lua_charge(L, charge, what);
    int rc = qs_windows_build(ws, tok, t->data, t->len, wo);
    qs_lua_uncharge(L, charge);
    if (rc) qs__lua_fail(L, what);
}

void qs__lua_site_layer(lua_State *L, int idx, const char *what, const qs_config *cfg, int *site,
                        int *layer) {
    const char *name = qs__lua_opt_str(L, idx, "site", NULL);
    *site = name ? qs_site_from_name(name) : -1;
    if (*site < 0)
        luaL_error(L, "%s: site '%s' is not one of resid, attn_in, attn_o_in, ffn_in, ffn_down_in",
                   what, name ? name : "(missing)");
    int n = qs_site_layers(cfg, *site);
    lua_Integer l = qs__lua_opt_int(L, idx, "layer", -1);
    if (l < 0 || l >= n) luaL_error(L, "%s: layer must be 0..%d for %s", what, n - 1, name);
    *layer = (int)l;
}
