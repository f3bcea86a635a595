/* Command-line parameters for Lua scripts: the read-only `params` table, param() and
 * declare_params{}. The raw "name=value" strings are kept so that declare_params can
 * convert each one to the type of its default rather than guessing. */
#include "lua_params.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "error.h"
#include "lua_sandbox.h"

#define READONLY_MT "qs.readonly"

/* registry keys: CLI name -> raw value string; CLI name -> true once the script read it */
static const char cli_key = 'c';
static const char used_key = 'u';

/* How a read-only proxy answers a key it does not hold. */
enum { RO_LENIENT = 0, RO_STRICT = 1 };

/* ---- read-only tables ------------------------------------------------------------------ */

/* Pushes a proxy for the table at index t: a userdata (rawset cannot write it) whose user
 * values are the table, a label for messages and the RO_* mode. */
static void push_readonly(lua_State *L, int t, const char *label, int mode) {
    t = lua_absindex(L, t);
    lua_newuserdatauv(L, 0, 3);
    lua_pushvalue(L, t);
    lua_setiuservalue(L, -2, 1);
    lua_pushstring(L, label);
    lua_setiuservalue(L, -2, 2);
    lua_pushinteger(L, mode);
    lua_setiuservalue(L, -2, 3);
    luaL_setmetatable(L, READONLY_MT);
}

static void mark_used(lua_State *L, int key) {
    if (lua_type(L, key) != LUA_TSTRING) return;
    key = lua_absindex(L, key);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &used_key);
    lua_pushvalue(L, key);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

static int ro_index(lua_State *L) { /* (proxy, key) */
    lua_getiuservalue(L, 1, 1);
    lua_pushvalue(L, 2);
    int found = lua_rawget(L, -2) != LUA_TNIL;
    lua_getiuservalue(L, 1, 3);
    int mode = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (found) {
        mark_used(L, 2);
        return 1;
    }
    if (mode == RO_STRICT)
        return luaL_error(L, "undeclared parameter '%s' (add it to declare_params{...})",
                          luaL_tolstring(L, 2, NULL));
    return 1; /* nil */
}

static int ro_newindex(lua_State *L) { /* (proxy, key, value) */
    lua_getiuservalue(L, 1, 2);
    const char *label = lua_tostring(L, -1);
    return luaL_error(L,
                      "%s is read-only: cannot set '%s' (parameters come from the command "
                      "line as name=value)",
                      label, luaL_tolstring(L, 2, NULL));
}

static int ro_next(lua_State *L) { /* (proxy, key); upvalue 1: the table */
    lua_settop(L, 2);
    if (lua_next(L, lua_upvalueindex(1))) return 2;
    lua_pushnil(L);
    return 1;
}

static int ro_pairs(lua_State *L) {
    lua_getiuservalue(L, 1, 1);
    lua_pushnil(L); /* a script that walks all parameters reads them all */
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        mark_used(L, -1);
    }
    lua_pushcclosure(L, ro_next, 1);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int ro_len(lua_State *L) {
    lua_getiuservalue(L, 1, 1);
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
    return 1;
}

static int ro_tostring(lua_State *L) {
    lua_getiuservalue(L, 1, 2);
    lua_pushfstring(L, "%s (read-only table)", lua_tostring(L, -1));
    return 1;
}

/* ---- conversions ----------------------------------------------------------------------- */

/* Pushes raw converted by its look: number, boolean, else string. */
static void push_auto(lua_State *L, const char *raw) {
    if (strcmp(raw, "true") == 0)
        lua_pushboolean(L, 1);
    else if (strcmp(raw, "false") == 0)
        lua_pushboolean(L, 0);
    else if (!(*raw && lua_stringtonumber(L, raw)))
        lua_pushstring(L, raw);
}

/* Pushes raw converted to the type of the scalar at index def (number, integer, boolean,
 * string); `what` names the value in messages. */
static void push_typed_scalar(lua_State *L, const char *raw, int def, const char *what) {
    switch (lua_type(L, def)) {
    case LUA_TNUMBER:
        if (!*raw || !lua_stringtonumber(L, raw))
            luaL_error(L, "%s expects a number, got '%s'", what, raw);
        if (lua_isinteger(L, def) && !lua_isinteger(L, -1)) {
            lua_Integer i = 0;
            if (!lua_numbertointeger(lua_tonumber(L, -1), &i) ||
                (lua_Number)i != lua_tonumber(L, -1))
                luaL_error(L, "%s expects an integer, got '%s'", what, raw);
            lua_pop(L, 1);
            lua_pushinteger(L, i);
        } else if (!lua_isinteger(L, def) && lua_isinteger(L, -1)) {
            lua_Number x = (lua_Number)lua_tointeger(L, -1);
            lua_pop(L, 1);
            lua_pushnumber(L, x);
        }
        return;
    case LUA_TBOOLEAN:
        if (strcmp(raw, "true") == 0)
            lua_pushboolean(L, 1);
        else if (strcmp(raw, "false") == 0)
            lua_pushboolean(L, 0);
        else
            luaL_error(L, "%s expects true or false, got '%s'", what, raw);
        return;
    case LUA_TSTRING: lua_pushstring(L, raw); return;
    case LUA_TNIL: push_auto(L, raw); return;
    default:
        luaL_error(L, "%s: a default must be a number, string, boolean or list, got %s", what,
                   luaL_typename(L, def));
    }
}

/* Checks that the table at index t is a list of scalars; returns its length. */
static lua_Integer check_list(lua_State *L, int t, const char *name) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, t), count = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int vt = lua_type(L, -1);
        count++;
        if (!lua_isinteger(L, -2) || vt == LUA_TTABLE || vt == LUA_TFUNCTION ||
            vt == LUA_TUSERDATA || vt == LUA_TTHREAD)
            luaL_error(L,
                       "default of parameter '%s' must be a list of numbers, strings or "
                       "booleans",
                       name);
        lua_pop(L, 1);
    }
    if (count != n) luaL_error(L, "default of parameter '%s' must be a list (keys 1..n)", name);
    return n;
}

/* Pushes the value of parameter `name` with default at index def: raw converted to the
 * default's type, or (raw == NULL) the default itself. Lists become read-only lists. */
static void push_param(lua_State *L, const char *name, const char *raw, int def) {
    def = lua_absindex(L, def);
    char what[160];
    snprintf(what, sizeof what, "parameter '%s'", name);
    if (lua_type(L, def) != LUA_TTABLE) {
        if (raw)
            push_typed_scalar(L, raw, def, what);
        else
            lua_pushvalue(L, def);
        return;
    }
    lua_Integer n = check_list(L, def, name);
    lua_newtable(L);
    if (!raw) {
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, def, i);
            lua_rawseti(L, -2, i);
        }
    } else if (*raw) {          /* "a,b,c"; an empty value is an empty list */
        lua_rawgeti(L, def, 1); /* the item type: nil (auto) for an empty default */
        int item = lua_gettop(L);
        lua_Integer k = 0;
        for (const char *p = raw;; p++) {
            const char *end = strchr(p, ',');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            lua_pushlstring(L, p, len); /* NUL-terminated copy of the item */
            snprintf(what, sizeof what, "parameter '%s' item %lld", name, (long long)(k + 1));
            push_typed_scalar(L, lua_tostring(L, -1), item, what);
            lua_rawseti(L, item - 1, ++k);
            lua_pop(L, 1);
            if (!end) break;
            p = end;
        }
        lua_pop(L, 1);
    }
    char label[160];
    snprintf(label, sizeof label, "params.%s", name);
    push_readonly(L, -1, label, RO_LENIENT);
    lua_remove(L, -2);
}

/* ---- messages with sorted name lists --------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Pushes "'a', 'b'": the strings of the list at index t, sorted. */
static void push_sorted_names(lua_State *L, int t) {
    t = lua_absindex(L, t);
    lua_Integer n = (lua_Integer)lua_rawlen(L, t);
    /* the array lives in a userdata kept on the stack below the buffer, so an error or a
     * collection while the buffer grows neither leaks nor frees it */
    const char **names = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *names, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, t, i);
        names[i - 1] = lua_tostring(L, -1); /* anchored by the list */
        lua_pop(L, 1);
    }
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (lua_Integer i = 0; i < n; i++) {
        if (i) luaL_addstring(&b, ", ");
        luaL_addchar(&b, '\'');
        luaL_addstring(&b, names[i]);
        luaL_addchar(&b, '\'');
    }
    luaL_pushresult(&b);
    lua_remove(L, -2); /* the array */
}

/* ---- Lua functions ---------------------------------------------------------------------- */

static int l_param(lua_State *L) { /* param(name [, default]) */
    const char *name = luaL_checkstring(L, 1);
    lua_settop(L, 2);
    mark_used(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &cli_key);
    lua_pushvalue(L, 1);
    if (lua_rawget(L, -2) == LUA_TNIL) {
        lua_pushvalue(L, 2);
        return 1;
    }
    push_param(L, name, lua_tostring(L, -1), 2);
    return 1;
}

static int l_declare_params(lua_State *L) { /* declare_params{ name = default, ... } */
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &cli_key); /* 2 */
    lua_newtable(L);                             /* 3: unknown CLI names */
    lua_newtable(L);                             /* 4: declared names */
    lua_Integer nunknown = 0, ndeclared = 0;
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L,
                              "declare_params: parameter names must be strings, got %s "
                              "(write declare_params{ name = default })",
                              luaL_typename(L, -1));
        lua_pushvalue(L, -1);
        lua_rawseti(L, 4, ++ndeclared);
    }
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        lua_pop(L, 1);
        mark_used(L, -1);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, 1) == LUA_TNIL) {
            lua_pushvalue(L, -2);
            lua_rawseti(L, 3, ++nunknown);
        }
        lua_pop(L, 1);
    }
    if (nunknown) {
        luaL_where(L, 1);
        lua_pushstring(L, nunknown == 1 ? "unknown parameter " : "unknown parameters ");
        push_sorted_names(L, 3);
        lua_pushliteral(L, " on the command line (the script declares ");
        if (ndeclared)
            push_sorted_names(L, 4);
        else
            lua_pushliteral(L, "none");
        lua_pushliteral(L, ")");
        lua_concat(L, 6);
        return lua_error(L);
    }
    lua_newtable(L); /* 5: merged */
    lua_pushnil(L);
    while (lua_next(L, 1)) { /* key -2, default -1 */
        int def = lua_gettop(L);
        const char *name = lua_tostring(L, def - 1);
        lua_pushvalue(L, def - 1);
        const char *raw = lua_rawget(L, 2) == LUA_TNIL ? NULL : lua_tostring(L, -1);
        push_param(L, name, raw, def);
        lua_pushvalue(L, def - 1);
        lua_insert(L, -2);
        lua_rawset(L, 5);
        lua_settop(L, def - 1);
    }
    push_readonly(L, 5, "params", RO_STRICT);
    lua_pushglobaltable(L);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "params"); /* declared global: the strict metatable lets it through */
    lua_pop(L, 1);
    return 1;
}

/* ---- host side -------------------------------------------------------------------------- */

static int valid_name(const char *s, size_t len) {
    if (len == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) return 0;
    return 1;
}

/* Stores the CLI table, clears the used set and sets global `params` (a raw field of
 * _G once set, so the strict metatable never sees it). Leaves the stack as it was. */
static void build_params(lua_State *L, int n, char *const *assignments) {
    int base = lua_gettop(L);
    lua_newtable(L); /* base+1: name -> raw string */
    lua_newtable(L); /* base+2: name -> converted value */
    for (int i = 0; i < n; i++) {
        const char *s = assignments[i], *eq = strchr(s, '=');
        lua_pushlstring(L, s, (size_t)(eq - s));
        lua_pushvalue(L, -1);
        lua_pushstring(L, eq + 1);
        lua_rawset(L, base + 1);
        push_auto(L, eq + 1);
        lua_rawset(L, base + 2);
    }
    lua_pushvalue(L, base + 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &cli_key);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &used_key);
    lua_pushglobaltable(L);
    lua_pushliteral(L, "params");
    push_readonly(L, base + 2, "params", RO_LENIENT);
    lua_rawset(L, -3); /* raw, as in open_params */
    lua_settop(L, base);
}

/* Installs the read-only metatable and the globals param/declare_params, once per state. */
static void open_params(lua_State *L) {
    static const luaL_Reg ro_meta[] = {
        {"__index", ro_index}, {"__newindex", ro_newindex}, {"__pairs", ro_pairs},
        {"__len", ro_len},     {"__tostring", ro_tostring}, {NULL, NULL},
    };
    if (!luaL_newmetatable(L, READONLY_MT)) {
        lua_pop(L, 1); /* installed by an earlier call */
        return;
    }
    luaL_setfuncs(L, ro_meta, 0);
    lua_pushliteral(L, "read-only");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    lua_pushglobaltable(L); /* raw fields: the strict globals refuse undeclared names */
    lua_pushliteral(L, "param");
    lua_pushcfunction(L, l_param);
    lua_rawset(L, -3);
    lua_pushliteral(L, "declare_params");
    lua_pushcfunction(L, l_declare_params);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

struct set_args {
    int n;
    char *const *assignments;
};

static int set_params_p(lua_State *L) {
    const struct set_args *a = lua_touserdata(L, 1);
    open_params(L);
    build_params(L, a->n, a->assignments);
    return 0;
}

int qs_lua_set_params(lua_State *L, int n, char *const *assignments) {
    QS_ASSERT(L);
    if (n < 0 || (n > 0 && !assignments))
        return qs_error_set(QS_ERR_ARG, "qs_lua_set_params: bad argument list (n = %d)", n);
    for (int i = 0; i < n; i++) {
        const char *s = assignments[i], *eq = s ? strchr(s, '=') : NULL;
        if (!eq)
            return qs_error_set(QS_ERR_ARG, "script parameter '%s' must be written name=value",
                                s ? s : "(null)");
        size_t len = (size_t)(eq - s);
        if (!valid_name(s, len))
            return qs_error_set(QS_ERR_ARG,
                                "script parameter '%s': the name '%.*s' must be "
                                "letters, digits and _, not starting with a digit",
                                s, (int)len, s);
        for (int j = 0; j < i; j++)
            if (strncmp(assignments[j], s, len + 1) == 0)
                return qs_error_set(QS_ERR_ARG, "script parameter '%.*s' is given twice", (int)len,
                                    s);
    }
    struct set_args a = {n, assignments};
    return qs__lua_protect(L, set_params_p, &a, 0, QS_ERR_ARG);
}

static int check_used_p(lua_State *L) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &cli_key);  /* 2 */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &used_key); /* 3 */
    lua_newtable(L);                              /* 4: unread names */
    lua_Integer n = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, 3) == LUA_TNIL) {
            lua_pushvalue(L, -2);
            lua_rawseti(L, 4, ++n);
        }
        lua_pop(L, 1);
    }
    if (!n) return 0;
    lua_pushstring(L, n == 1 ? "unknown parameter " : "unknown parameters ");
    push_sorted_names(L, 4);
    lua_pushstring(L, n == 1 ? " (the script never read it)" : " (the script never read them)");
    lua_concat(L, 3);
    return lua_error(L);
}

int qs_lua_params_check_used(lua_State *L) {
    QS_ASSERT(L);
    return qs__lua_protect(L, check_used_p, NULL, 0, QS_ERR_ARG);
}

int qs__lua_param_names_file(lua_State *L, const char *resolved) {
    int found = 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &cli_key);
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (!found && lua_next(L, -2)) {
            char buf[PATH_MAX];
            const char *raw = lua_tostring(L, -1);
            if (raw && realpath(raw, buf)) found = strcmp(buf, resolved) == 0;
            lua_pop(L, 1);
        }
        if (found) lua_pop(L, 1); /* the key left by the interrupted traversal */
    }
    lua_pop(L, 1);
    return found;
}
