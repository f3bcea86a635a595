/* qs.text: a text file read once (text.h), for the windows of every model method; its
 * C memory counts against the script's memory limit.
 *   qs.text(path [, {utf8 = "strict"|"replace"}]) -> a text; txt:path() */
#include <lauxlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "lua_aux.h"
#include "lua_qs.h"
#include "lua_sandbox.h"

/* qs.text(path [, {utf8 = "strict"|"replace"}]) */
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

const luaL_Reg qs__lua_text_methods[] = {{"path", text_path}, {NULL, NULL}};
const luaL_Reg qs__lua_text_meta[] = {
    {"__gc", text_gc}, {"__close", text_gc}, {"__tostring", text_tostring}, {NULL, NULL}};
