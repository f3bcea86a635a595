/* The qs module table and the helpers every binding shares. */
#include "lua_qs.h"

#include <lauxlib.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "lua_sandbox.h"
#include "memory.h"
#include "version.h"

int qs__lua_fail(lua_State *L, const char *what) {
    return luaL_error(L, "%s: %s", what, qs_error_message());
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

/* qs.text(path [, {utf8 = "strict"|"replace"}]) */
static int l_text(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    int policy = QS_UTF8_STRICT;
    if (lua_istable(L, 2)) {
        static const char *const keys[] = {"utf8", NULL};
        qs__lua_check_keys(L, 2, "qs.text", keys);
        const char *u = qs__lua_opt_str(L, 2, "utf8", "strict");
        if (strcmp(u, "replace") == 0)
            policy = QS_UTF8_REPLACE;
        else if (strcmp(u, "strict") != 0)
            luaL_error(L, "qs.text: utf8 must be strict or replace");
    }
    qs_lua_text *t = lua_newuserdatauv(L, sizeof *t, 0);
    memset(t, 0, sizeof *t);
    luaL_setmetatable(L, QS_LUA_TEXT);
    /* the text lives in C memory: charge it before reading (a replaced byte may grow to 3) */
    struct stat st;
    size_t size = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (size_t)st.st_size : 0;
    size_t charge = policy == QS_UTF8_REPLACE && size < SIZE_MAX / 4 ? 4 * size : size;
    qs_lua_charge(L, charge, "qs.text");
    t->charged = charge;
    int rc = qs_text_load(&t->t, path, policy);
    qs_lua_uncharge(L, t->charged); /* now what it really holds */
    t->charged = 0;
    if (rc) return qs__lua_fail(L, "qs.text");
    qs_lua_charge(L, t->t.len, "qs.text");
    t->charged = t->t.len;
    return 1;
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
    size_t charge = bytes < SIZE_MAX / QS_LUA_TOKENIZE_BYTES ? bytes * QS_LUA_TOKENIZE_BYTES
                                                              : SIZE_MAX;
    qs_lua_charge(L, charge, what);
    int rc = qs_windows_build(ws, tok, t->data, t->len, wo);
    qs_lua_uncharge(L, charge);
    if (rc) qs__lua_fail(L, what);
}

qs_text *qs__lua_check_text(lua_State *L, int idx) {
    qs_lua_text *t = luaL_checkudata(L, idx, QS_LUA_TEXT);
    if (!t->t.data) luaL_error(L, "text is closed");
    return &t->t;
}

static int text_gc(lua_State *L) {
    qs_lua_text *t = luaL_checkudata(L, 1, QS_LUA_TEXT);
    qs_text_free(&t->t);
    qs_lua_uncharge(L, t->charged);
    t->charged = 0;
    return 0;
}

static int text_tostring(lua_State *L) {
    qs_lua_text *t = luaL_checkudata(L, 1, QS_LUA_TEXT);
    lua_pushfstring(L, "qs.text(%s, %d bytes)", t->t.path, (int)t->t.len);
    return 1;
}

static int text_path(lua_State *L) {
    lua_pushstring(L, qs__lua_check_text(L, 1)->path);
    return 1;
}

/* qs.memory{params=, bits=, group=, scale_bits=, affine=, layers=, kv_heads=, head_dim=,
 *           seq=, batch=, kv_bits=} -> {weight_bytes, scale_bytes, kv_bytes, total_bytes,
 *           bits_per_weight} */
static int l_memory(lua_State *L) {
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

static const luaL_Reg qs_functions[] = {
    {"text", l_text},
    {"memory", l_memory},
    {NULL, NULL},
};

/* Further module functions registered by other binding files (model, results, quant,
 * capture) add themselves to the `qs` table through this list. */
extern const luaL_Reg qs__lua_model_functions[];
extern const luaL_Reg qs__lua_results_functions[];
extern const luaL_Reg qs__lua_quant_functions[];
extern const luaL_Reg qs__lua_capture_functions[];

int qs_lua_open_qs(lua_State *L) {
    static const luaL_Reg text_methods[] = {{"path", text_path}, {NULL, NULL}};
    static const luaL_Reg text_meta[] = {
        {"__gc", text_gc}, {"__close", text_gc}, {"__tostring", text_tostring}, {NULL, NULL}};
    int rc = qs_lua_class_register(L, QS_LUA_TEXT, text_methods, text_meta);
    if (rc == QS_OK) rc = qs__lua_register_model(L);
    if (rc == QS_OK) rc = qs__lua_register_results(L);
    if (rc == QS_OK) rc = qs__lua_register_capture(L);
    if (rc) return rc;
    lua_newtable(L);
    luaL_setfuncs(L, qs_functions, 0);
    luaL_setfuncs(L, qs__lua_model_functions, 0);
    luaL_setfuncs(L, qs__lua_results_functions, 0);
    luaL_setfuncs(L, qs__lua_quant_functions, 0);
    luaL_setfuncs(L, qs__lua_capture_functions, 0);
    lua_pushstring(L, qs_version());
    lua_setfield(L, -2, "version");
    lua_pushstring(L, qs_git_revision());
    lua_setfield(L, -2, "git_revision");
    return qs_lua_set_global(L, "qs");
}
