/* The registry of the qs module (like Lua's linit.c): every class with its method and
 * metamethod tables, and every qs.* function. A new binding adds its line here. */
#include <lauxlib.h>

#include "error.h"
#include "lua_qs.h"
#include "lua_sandbox.h"
#include "version.h"

static const struct {
    const char *name;
    const luaL_Reg *methods, *meta;
} classes[] = {
    {QS_LUA_MODEL, qs__lua_model_methods, qs__lua_model_meta},
    {QS_LUA_TEXT, qs__lua_text_methods, qs__lua_text_meta},
    {QS_LUA_RESULTS, qs__lua_results_methods, qs__lua_results_meta},
    {QS_LUA_CAPTURE, NULL, qs__lua_capture_meta}, /* m:profile's statistics, no methods */
};

static const luaL_Reg qs_functions[] = {
    {"model", qs__lua_qs_model},
    {"text", qs__lua_qs_text},
    {"results", qs__lua_qs_results},
    {"config", qs__lua_qs_config},
    {"quantize", qs__lua_qs_quantize},
    {"memory", qs__lua_qs_memory},
    {"outlier_channels", qs__lua_qs_outlier_channels},
    {"outlier_tokens", qs__lua_qs_outlier_tokens},
    {"bench_speed", qs__lua_qs_bench_speed},
    {NULL, NULL},
};

int qs_lua_open_qs(lua_State *L) {
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        int rc = qs_lua_class_register(L, classes[i].name, classes[i].methods, classes[i].meta);
        if (rc) return rc;
    }
    lua_newtable(L);
    luaL_setfuncs(L, qs_functions, 0);
    lua_pushstring(L, qs_version());
    lua_setfield(L, -2, "version");
    lua_pushstring(L, qs_git_revision());
    lua_setfield(L, -2, "git_revision");
    return qs_lua_set_global(L, "qs");
}
