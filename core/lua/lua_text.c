/* qs.text: a text file read once (text.h), for the windows of every model method.
 *   qs.text(path [, {utf8 = "strict"|"replace"}]) -> a text; txt:path() */
#include <lauxlib.h>
#include <string.h>

#include "error.h"
#include "lua_aux.h"
#include "lua_qs.h"

int qs__lua_qs_text(lua_State *L) {
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
    if (qs_text_load(&t->t, path, policy)) return qs__lua_fail(L, "qs.text");
    return 1;
}

qs_text *qs__lua_check_text(lua_State *L, int idx) {
    qs_lua_text *t = luaL_checkudata(L, idx, QS_LUA_TEXT);
    if (!t->t.data) luaL_error(L, "text is closed");
    return &t->t;
}

static int text_gc(lua_State *L) {
    qs_lua_text *t = luaL_checkudata(L, 1, QS_LUA_TEXT);
    qs_text_free(&t->t);
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

const luaL_Reg qs__lua_text_methods[] = {{"path", text_path}, {NULL, NULL}};
const luaL_Reg qs__lua_text_meta[] = {
    {"__gc", text_gc}, {"__close", text_gc}, {"__tostring", text_tostring}, {NULL, NULL}};
