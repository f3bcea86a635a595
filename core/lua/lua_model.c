/* qs.model: loading a checkpoint, the methods that run it (info, tokenize, generate,
 * perplexity), and the class's one method table, which also lists the methods defined
 * beside the features they bind (evaluation, profiling, planting, sweeps, activations). */
#include <lauxlib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "generate.h"
#include "lua_aux.h"
#include "lua_qs.h"
#include "lua_sandbox.h"
#include "perplexity.h"

qs_model *qs__lua_check_model(lua_State *L, int idx) {
    qs_lua_model *u = luaL_checkudata(L, idx, QS_LUA_MODEL);
    if (!u->m) luaL_error(L, "model is closed");
    return u->m;
}

/* qs.model(path [, {tokenizer = FILE}]): format detected from the content */
int qs__lua_qs_model(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    const char *tok = NULL;
    if (lua_istable(L, 2)) {
        static const char *const keys[] = {"tokenizer", NULL};
        qs__lua_check_keys(L, 2, "qs.model", keys);
        tok = qs__lua_opt_str(L, 2, "tokenizer", NULL);
    }
    qs_lua_model *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->m = NULL; /* created closed, filled only on success */
    luaL_setmetatable(L, QS_LUA_MODEL);
    if (qs_model_load(&u->m, path, tok)) return qs__lua_fail(L, "qs.model");
    qs__lua_dist_note_file(L, -1, path, tok);
    return 1;
}

static int model_gc(lua_State *L) {
    qs_lua_model *u = luaL_checkudata(L, 1, QS_LUA_MODEL);
    qs_model_free(u->m);
    u->m = NULL;
    return 0;
}

static int model_tostring(lua_State *L) {
    qs_lua_model *u = luaL_checkudata(L, 1, QS_LUA_MODEL);
    if (!u->m)
        lua_pushliteral(L, "qs.model(closed)");
    else
        lua_pushfstring(L, "qs.model(%s, %s)", u->m->path, u->m->format);
    return 1;
}

/* m:info() -> {path, format, arch, dim, hidden_dim, n_layers, n_heads, n_kv_heads, head_dim,
 *              vocab_size, seq_len, rope_theta, norm_eps, params, tokenizer, stored_types} */
static int model_info(lua_State *L) {
    qs_model *m = qs__lua_check_model(L, 1);
    const qs_config *c = &m->cfg;
    lua_createtable(L, 0, 16);
    qs__lua_set_str(L, "path", m->path);
    qs__lua_set_str(L, "format", m->format);
    qs__lua_set_str(L, "arch", c->arch);
    qs__lua_set_int(L, "dim", c->dim);
    qs__lua_set_int(L, "hidden_dim", c->hidden_dim);
    qs__lua_set_int(L, "n_layers", c->n_layers);
    qs__lua_set_int(L, "n_heads", c->n_heads);
    qs__lua_set_int(L, "n_kv_heads", c->n_kv_heads);
    qs__lua_set_int(L, "head_dim", c->head_dim);
    qs__lua_set_int(L, "vocab_size", c->vocab_size);
    qs__lua_set_int(L, "seq_len", c->seq_len);
    qs__lua_set_num(L, "rope_theta", c->rope_theta);
    qs__lua_set_num(L, "norm_eps", c->norm_eps);
    qs__lua_set_int(L, "params", qs_model_param_count(m));
    qs__lua_set_str(L, "tokenizer", m->tok ? m->tok->kind : "none");
    lua_createtable(L, m->n_tensors, 0);
    for (int i = 0; i < m->n_tensors; i++) {
        lua_createtable(L, 0, 4);
        qs__lua_set_str(L, "name", m->tensors[i]->name);
        qs__lua_set_int(L, "rows", m->tensors[i]->rows);
        qs__lua_set_int(L, "cols", m->tensors[i]->cols);
        qs__lua_set_str(L, "stored_type", m->tensors[i]->stored_type);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "tensors");
    return 1;
}

/* m:tokenize(str [, {bos = true}]) -> {ids...} */
static int model_tokenize(lua_State *L) {
    qs_model *m = qs__lua_check_model(L, 1);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    int bos = lua_istable(L, 3) ? qs__lua_opt_bool(L, 3, "bos", 1) : 1;
    if (!m->tok) return luaL_error(L, "m:tokenize: the model has no tokenizer");
    /* The ids land in a userdata allocated first (Lua counts it, and a memory error while
     * the result table grows leaves nothing behind in C); the encoder's working memory is C
     * memory, charged to the script's limit while it lives. At most one id per byte + BOS. */
    if (len > SIZE_MAX / QS_LUA_TOKENIZE_BYTES - 2)
        return luaL_error(L, "m:tokenize: string too long");
    int *copy = lua_newuserdatauv(L, (len + 2) * sizeof *copy, 0);
    size_t charge = (len + 2) * QS_LUA_TOKENIZE_BYTES;
    qs_lua_charge(L, charge, "m:tokenize");
    int *ids, n;
    int rc = qs_tokenizer_encode(m->tok, s, len, bos, &ids, &n);
    qs_lua_uncharge(L, charge);
    if (rc) return qs__lua_fail(L, "m:tokenize");
    if ((size_t)n > len + 2) {
        free(ids);
        return luaL_error(L, "m:tokenize: %d ids for %d bytes", n, (int)len);
    }
    memcpy(copy, ids, (size_t)n * sizeof *copy);
    free(ids);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushinteger(L, copy[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* m:generate{prompt = "...", steps = 64, temperature = 0, seed = 42} -> text */
static int model_generate(lua_State *L) {
    qs_model *m = qs__lua_check_model(L, 1);
    static const char *const keys[] = {"prompt", "steps", "temperature", "seed", NULL};
    if (lua_isnoneornil(L, 2)) lua_newtable(L);
    qs__lua_check_keys(L, 2, "m:generate", keys);
    const char *prompt = qs__lua_opt_str(L, 2, "prompt", "Once upon a time");
    qs_generate_opts o = {(int)qs__lua_opt_int(L, 2, "steps", 64),
                          (float)qs__lua_opt_num(L, 2, "temperature", 0),
                          (unsigned long long)qs__lua_opt_i64(L, 2, "seed", 42), 1};
    char *text;
    if (qs_generate(m, prompt, &o, &text, NULL, NULL, NULL, NULL))
        return qs__lua_fail(L, "m:generate");
    lua_pushstring(L, text);
    free(text);
    return 1;
}

/* m:perplexity{text = txt, ctx = , stride = , score = "half"|"all", bos = , max_tokens = ,
 *              docs = , skip_docs = } -> {nll, nll_stderr, ppl, ppl_stderr, tokens, windows, ctx,
 *              seconds, tokens_per_s} */
static int model_perplexity(lua_State *L) {
    qs_model *m = qs__lua_check_model(L, 1);
    static const char *const keys[] = {QS_LUA_WINDOW_KEYS, NULL};
    qs__lua_check_keys(L, 2, "m:perplexity", keys);
    lua_getfield(L, 2, "text");
    qs_text *t = qs__lua_check_text(L, -1);
    lua_pop(L, 1);
    if (!m->tok) return luaL_error(L, "m:perplexity: the model has no tokenizer");
    qs_window_opts wo;
    qs__lua_window_opts(L, 2, m, &wo);
    qs_windows ws;
    qs__lua_windows_build(L, &ws, m->tok, t, &wo, "m:perplexity");
    qs_ppl_result r;
    int rc = qs_perplexity(m, &ws, NULL, &r);
    int ctx = ws.w[0].n;
    qs_windows_free(&ws);
    if (rc) return qs__lua_fail(L, "m:perplexity");
    lua_createtable(L, 0, 9);
    qs__lua_set_num(L, "nll", r.nll);
    qs__lua_set_num(L, "nll_stderr", r.nll_se);
    qs__lua_set_num(L, "ppl", r.ppl);
    qs__lua_set_num(L, "ppl_stderr", r.ppl_se);
    qs__lua_set_int(L, "tokens", r.n_scored);
    qs__lua_set_int(L, "windows", r.n_windows);
    qs__lua_set_int(L, "ctx", ctx);
    qs__lua_set_num(L, "seconds", r.seconds);
    qs__lua_set_num(L, "tokens_per_s", r.tokens_per_s);
    return 1;
}

const luaL_Reg qs__lua_model_methods[] = {
    {"info", model_info},
    {"tokenize", model_tokenize},
    {"generate", model_generate},
    {"perplexity", model_perplexity},
    {"eval", qs__lua_model_eval},
    {"quantize", qs__lua_model_quantize},
    {"quantize_tensor", qs__lua_model_quantize_tensor},
    {"remedy", qs__lua_model_remedy},
    {"profile", qs__lua_model_profile},
    {"plant", qs__lua_model_plant},
    {"save", qs__lua_model_save},
    {"sweep", qs__lua_model_sweep},
    {"activations", qs__lua_model_activations},
    {NULL, NULL},
};
const luaL_Reg qs__lua_model_meta[] = {
    {"__gc", model_gc}, {"__close", model_gc}, {"__tostring", model_tostring}, {NULL, NULL}};
