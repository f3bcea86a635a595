/* qs.bench_speed{...}: the speed bench (measure/speed.h) from Lua, the rows of
 * `qscope bench --speed --json`.
 *
 *   qs.bench_speed{model = m, formats = "f32,bf16,int4 g128" | {"f32", ...},
 *                  paths = "fused,naive,int8dot", phases = "decode,prefill",
 *                  decode_tokens = 16, kv = 256, prefill_tokens = 512, reps = 3,
 *                  per_token = false, vnni = true, gib = 1}
 *   → {limits = {sgemm_gflops, bandwidth_gbs, triad_gbs},
 *      rows = {{format, path, phase, tokens_per_s, weight_bytes_per_token, gbs,
 *               bandwidth_fraction, gflops, peak_fraction, predicted_tokens_per_s}, ...},
 *      formats = {{format, bits_per_weight, weight_bytes_per_token, matrices,
 *                  register_kernels, int8dot_kernels}, ...}, int8dot_kernel = "..."}
 * gib sizes the bandwidth arrays; the limits are measured before and after the rows, and the
 * better of the two is the machine's. An unknown format, path or phase raises; so does a cache
 * longer than the model's context. Timings are wall seconds, best of reps. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "linear.h"
#include "lua_aux.h"
#include "lua_qs.h"
#include "speed.h"

/* a string option, or a list of strings joined by commas (pushed; popped by the caller
 * with the rest of the stack) */
static const char *list_opt(lua_State *L, int idx, const char *key) {
    lua_getfield(L, idx, key);
    if (lua_isnil(L, -1)) return NULL;
    if (lua_type(L, -1) == LUA_TSTRING) return lua_tostring(L, -1);
    if (!lua_istable(L, -1)) luaL_error(L, "qs.bench_speed: %s must be a string or a list", key);
    luaL_Buffer b;
    int t = lua_gettop(L);
    luaL_buffinit(L, &b);
    lua_Integer n = luaL_len(L, t);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_geti(L, t, i) != LUA_TSTRING)
            luaL_error(L, "qs.bench_speed: %s[%d] is not a string", key, (int)i);
        if (i > 1) luaL_addchar(&b, ',');
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

int qs__lua_qs_bench_speed(lua_State *L) {
    static const char *const keys[] = {
        "model",          "formats", "paths",     "phases", "decode_tokens", "kv",
        "prefill_tokens", "reps",    "per_token", "vnni",   "gib",           NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    qs__lua_check_keys(L, 1, "qs.bench_speed", keys);
    lua_getfield(L, 1, "model");
    if (lua_isnil(L, -1)) return luaL_error(L, "qs.bench_speed: model = qs.model(...) is required");
    const qs_model *m = qs__lua_check_model(L, -1);
    qs_speed_opts o = {0};
    o.formats = list_opt(L, 1, "formats");
    o.paths = list_opt(L, 1, "paths");
    o.phases = list_opt(L, 1, "phases");
    o.decode_tokens = (int)qs__lua_opt_int(L, 1, "decode_tokens", 16);
    o.kv_positions = (int)qs__lua_opt_int(L, 1, "kv", 256);
    o.prefill_tokens = (int)qs__lua_opt_int(L, 1, "prefill_tokens", 512);
    o.reps = (int)qs__lua_opt_int(L, 1, "reps", 3);
    o.per_token = qs__lua_opt_bool(L, 1, "per_token", 0);
    int vnni = qs__lua_opt_bool(L, 1, "vnni", 1);
    double gib = qs__lua_opt_num(L, 1, "gib", 1.0);
    if (o.decode_tokens < 1 || o.kv_positions < 0 || o.prefill_tokens < 1 || o.reps < 1)
        return luaL_error(L, "qs.bench_speed: decode_tokens, prefill_tokens and reps must be "
                             ">= 1, kv >= 0");
    if (!(gib >= 0.01 && gib <= 64)) return luaL_error(L, "qs.bench_speed: gib must be 0.01..64");
    qs_speed_limits lim;
    if (qs_speed_opts_check(m, &o) || qs_speed_limits_measure(&lim, gib, o.reps))
        return qs__lua_fail(L, "qs.bench_speed");
    qs_speed_row *rows;
    qs_speed_format_info *info;
    int n_rows, n_info;
    qs_linear_vnni_allow(vnni);
    int rc = qs_bench_speed(m, &o, &lim, &rows, &n_rows, &info, &n_info);
    const char *kernel = qs_linear_int8dot_kernel_name();
    qs_linear_vnni_allow(1);
    qs_speed_limits again; /* measured again after the rows; the better of both counts */
    if (rc == QS_OK) rc = qs_speed_limits_measure(&again, gib, o.reps);
    if (rc == QS_OK) qs_speed_limits_merge(&lim, &again, rows, n_rows);
    if (rc) {
        free(rows);
        free(info);
        return qs__lua_fail(L, "qs.bench_speed");
    }
    lua_createtable(L, 0, 4);
    lua_createtable(L, 0, 3);
    qs__lua_set_num(L, "sgemm_gflops", lim.sgemm_gflops);
    qs__lua_set_num(L, "bandwidth_gbs", lim.bandwidth_gbs);
    qs__lua_set_num(L, "triad_gbs", lim.triad_gbs);
    lua_setfield(L, -2, "limits");
    lua_createtable(L, n_rows, 0);
    for (int i = 0; i < n_rows; i++) {
        qs_field f[QS_SPEED_NFIELDS];
        qs_speed_row_fields(&rows[i], f);
        lua_createtable(L, 0, QS_SPEED_NFIELDS);
        qs__lua_set_fields(L, f, QS_SPEED_NFIELDS);
        lua_seti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "rows");
    lua_createtable(L, n_info, 0);
    for (int i = 0; i < n_info; i++) {
        lua_createtable(L, 0, 6);
        qs__lua_set_str(L, "format", info[i].format);
        qs__lua_set_num(L, "bits_per_weight", info[i].bits_per_weight);
        qs__lua_set_num(L, "weight_bytes_per_token", info[i].weight_bytes);
        qs__lua_set_int(L, "matrices", info[i].n_matrices);
        qs__lua_set_int(L, "register_kernels", info[i].registers);
        qs__lua_set_int(L, "int8dot_kernels", info[i].int8dot);
        lua_seti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "formats");
    qs__lua_set_str(L, "int8dot_kernel", kernel);
    free(rows);
    free(info);
    return 1;
}
