/* qs.results(path): an HDF5 results file for a script, one run group per open.
 *   out:append(name, row)      appends one row (a table of name -> number|string|boolean)
 *                              to the table /runs/<n>/<name>, creating it from the first
 *                              row's keys (sorted); later rows may omit keys (NaN/0/"")
 *                              but not add new ones. Flushed after every row.
 *   out:write(name, rows)      appends every row of an array of rows
 *   out:attr(path, key, value) an attribute (number or string) on a group
 *   out:run()                  the run number; out:path() the file; out:close()
 * The script's path, its parameters and its sha256 go into the run's provenance, and with
 * qs.results(path, {model = m, text = txt}) the model's and text's paths and sha256 too. */
#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "h5store.h"
#include "lua_aux.h"
#include "lua_qs.h"
#include "provenance.h"

#define MAX_TABLES 64
#define MAX_COLS   128

typedef struct results_table {
    char *name; /* any length: a name cut to fit would never match again */
    qs_h5_table *t;
    int ncols;
    char *col_names[MAX_COLS];
} results_table;

typedef struct qs_lua_results {
    qs_h5 *h;
    results_table tables[MAX_TABLES];
    int n_tables;
} qs_lua_results;

static qs_lua_results *check_results(lua_State *L, int idx) {
    qs_lua_results *r = luaL_checkudata(L, idx, QS_LUA_RESULTS);
    if (!r->h) luaL_error(L, "results file is closed");
    return r;
}

static int close_results(qs_lua_results *r) {
    int rc = QS_OK;
    for (int i = 0; i < r->n_tables; i++) {
        if (r->tables[i].t) {
            int c = qs_h5_table_close(r->tables[i].t);
            if (rc == QS_OK) rc = c;
        }
        for (int k = 0; k < r->tables[i].ncols; k++) free(r->tables[i].col_names[k]);
        free(r->tables[i].name);
    }
    r->n_tables = 0;
    if (r->h) {
        int c = qs_h5_close(r->h);
        if (rc == QS_OK) rc = c;
        r->h = NULL;
    }
    return rc;
}

static int results_gc(lua_State *L) {
    qs_lua_results *r = luaL_checkudata(L, 1, QS_LUA_RESULTS);
    close_results(r);
    return 0;
}

static int results_close(lua_State *L) {
    qs_lua_results *r = luaL_checkudata(L, 1, QS_LUA_RESULTS);
    if (close_results(r)) return qs__lua_fail(L, "out:close");
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A row key must be a column name: a string (a boolean or number key has no name, and
 * converting a number key in place would break the traversal), without NUL bytes. */
static void check_key(lua_State *L, int idx) {
    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L, "out:append: row keys must be column names (strings), got a %s key",
                   luaL_typename(L, idx));
    size_t len;
    const char *k = lua_tolstring(L, idx, &len);
    if (strlen(k) != len)
        luaL_error(L, "out:append: column name '%s...' has a NUL byte at offset %d", k,
                   (int)strlen(k));
}

/* A string value as a C string, refusing embedded NUL bytes that would cut it silently. */
static const char *check_nul(lua_State *L, int idx, const char *what, const char *name) {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    if (strlen(s) != len)
        luaL_error(L, "%s: %s '%s' holds a NUL byte at offset %d; HDF5 strings end at NUL", what,
                   "value of", name, (int)strlen(s));
    return s;
}

/* the table for `name`, created from the keys of the row at index `row` */
static results_table *table_for(lua_State *L, qs_lua_results *r, const char *name, int row) {
    for (int i = 0; i < r->n_tables; i++)
        if (strcmp(r->tables[i].name, name) == 0) return &r->tables[i];
    if (r->n_tables == MAX_TABLES) luaL_error(L, "out:append: more than %d tables", MAX_TABLES);
    results_table *t = &r->tables[r->n_tables];
    memset(t, 0, sizeof *t);
    char *names[MAX_COLS];
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, row)) {
        lua_pop(L, 1);
        check_key(L, -1);
        if (n == MAX_COLS) luaL_error(L, "out:append: more than %d columns", MAX_COLS);
        names[n++] = (char *)lua_tostring(L, -1);
    }
    if (n == 0) luaL_error(L, "out:append: an empty row has no columns");
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    qs_h5_col cols[MAX_COLS];
    for (int k = 0; k < n; k++) {
        lua_getfield(L, row, names[k]);
        int ty = lua_type(L, -1);
        size_t len = 0;
        if (ty == LUA_TSTRING) lua_tolstring(L, -1, &len);
        lua_pop(L, 1);
        t->col_names[k] = strdup(names[k]);
        if (!t->col_names[k]) luaL_error(L, "out of memory");
        t->ncols = k + 1;
        cols[k].name = t->col_names[k];
        if (ty == LUA_TSTRING) {
            cols[k].type = QS_H5_COL_STR;
            /* fixed width, set by the first row: room for longer values later (error texts) */
            cols[k].len = len * 2 > 256 ? (len * 2 > 4096 ? 4096 : len * 2) : 256;
        } else if (ty == LUA_TNUMBER || ty == LUA_TBOOLEAN) {
            cols[k].type = QS_H5_COL_F64;
            cols[k].len = 0;
        } else {
            luaL_error(L,
                       "out:append: column '%s' is a %s; columns hold numbers, strings or booleans",
                       names[k], lua_typename(L, ty));
        }
    }
    int rc = qs_h5_table_open(&t->t, r->h, name, cols, (size_t)n);
    if (rc == QS_OK && !(t->name = strdup(name))) {
        qs_h5_table_close(t->t);
        rc = qs_error_set(QS_ERR_NOMEM, "out of memory");
    }
    if (rc) {
        for (int k = 0; k < t->ncols; k++) free(t->col_names[k]);
        qs__lua_fail(L, "out:append");
    }
    r->n_tables++;
    return t;
}

static void append_row(lua_State *L, qs_lua_results *r, const char *name, int row) {
    luaL_checktype(L, row, LUA_TTABLE);
    results_table *t = table_for(L, r, name, row);
    /* every key must be a known column */
    lua_pushnil(L);
    while (lua_next(L, row)) {
        lua_pop(L, 1);
        check_key(L, -1);
        const char *k = lua_tostring(L, -1);
        int found = 0;
        for (int c = 0; c < t->ncols && !found; c++) found = strcmp(k, t->col_names[c]) == 0;
        if (!found) luaL_error(L, "out:append: table '%s' has no column '%s'", name, k);
    }
    int rc = QS_OK;
    for (int c = 0; c < t->ncols && rc == QS_OK; c++) {
        lua_getfield(L, row, t->col_names[c]);
        switch (lua_type(L, -1)) {
        case LUA_TNIL: break;
        case LUA_TNUMBER:
            rc = qs_h5_table_set_f64(t->t, t->col_names[c], lua_tonumber(L, -1));
            break;
        case LUA_TBOOLEAN:
            rc = qs_h5_table_set_f64(t->t, t->col_names[c], lua_toboolean(L, -1));
            break;
        case LUA_TSTRING:
            rc = qs_h5_table_set_str(t->t, t->col_names[c],
                                     check_nul(L, -1, "out:append", t->col_names[c]));
            break;
        default:
            luaL_error(L, "out:append: column '%s' got a %s", t->col_names[c],
                       luaL_typename(L, -1));
        }
        lua_pop(L, 1);
    }
    if (rc == QS_OK) rc = qs_h5_table_commit(t->t);
    if (rc) qs__lua_fail(L, "out:append");
}

/* a table or group path argument, refusing NUL bytes */
static const char *check_path(lua_State *L, int idx, const char *what) {
    luaL_checkstring(L, idx);
    return check_nul(L, idx, what, "path");
}

static int results_append(lua_State *L) {
    qs_lua_results *r = check_results(L, 1);
    append_row(L, r, check_path(L, 2, "out:append"), 3);
    return 0;
}

static int results_write(lua_State *L) {
    qs_lua_results *r = check_results(L, 1);
    const char *name = check_path(L, 2, "out:write");
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 3);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 3, i);
        append_row(L, r, name, lua_gettop(L));
        lua_pop(L, 1);
    }
    lua_pushinteger(L, n);
    return 1;
}

static int results_attr(lua_State *L) {
    qs_lua_results *r = check_results(L, 1);
    const char *path = check_path(L, 2, "out:attr"), *key = check_path(L, 3, "out:attr");
    int rc = qs_h5_group(r->h, path);
    if (rc == QS_OK) {
        if (lua_type(L, 4) == LUA_TNUMBER)
            rc = qs_h5_attr_f64(r->h, path, key, lua_tonumber(L, 4));
        else {
            luaL_checkstring(L, 4);
            rc = qs_h5_attr_str(r->h, path, key, check_nul(L, 4, "out:attr", key));
        }
    }
    if (rc) return qs__lua_fail(L, "out:attr");
    return 0;
}

static int results_run(lua_State *L) {
    lua_pushinteger(L, qs_h5_run(check_results(L, 1)->h));
    return 1;
}

static int results_path(lua_State *L) {
    lua_pushstring(L, qs_h5_path(check_results(L, 1)->h));
    return 1;
}

/* qs.results(path [, {label = "quickstart"}]) */
int qs__lua_qs_results(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    const char *label = "script", *model_path = NULL, *text_path = NULL;
    if (lua_istable(L, 2)) {
        static const char *const keys[] = {"label", "model", "text", NULL};
        qs__lua_check_keys(L, 2, "qs.results", keys);
        label = qs__lua_opt_str(L, 2, "label", label);
        lua_getfield(L, 2, "model");
        if (!lua_isnil(L, -1)) model_path = qs__lua_check_model(L, -1)->path;
        lua_getfield(L, 2, "text");
        if (!lua_isnil(L, -1)) text_path = qs__lua_check_text(L, -1)->path;
        lua_pop(L, 2); /* both objects stay referenced by the option table */
    }
    qs__lua_write_check(L, path, "qs.results", 1);
    int is_new = access(path, F_OK) != 0;
    qs_lua_results *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    luaL_setmetatable(L, QS_LUA_RESULTS);
    if (qs_h5_open(&r->h, path, label)) return qs__lua_fail(L, "qs.results");
    if (is_new) qs__lua_write_created(L, path);
    lua_getfield(L, LUA_REGISTRYINDEX, "qs.script_path");
    const char *script = lua_tostring(L, -1);
    lua_getfield(L, LUA_REGISTRYINDEX, "qs.command_line");
    const char *cmd = lua_tostring(L, -1);
    qs_provenance p = {0};
    p.command_line = cmd;
    p.script_path = script;
    p.model_path = model_path;
    p.text_path = text_path;
    int rc = qs_h5_write_provenance(r->h, &p);
    lua_pop(L, 2);
    if (rc) return qs__lua_fail(L, "qs.results");
    return 1;
}

const luaL_Reg qs__lua_results_methods[] = {
    {"append", results_append},
    {"write", results_write},
    {"attr", results_attr},
    {"run", results_run},
    {"path", results_path},
    {"close", results_close},
    {NULL, NULL},
};
const luaL_Reg qs__lua_results_meta[] = {
    {"__gc", results_gc}, {"__close", results_gc}, {NULL, NULL}};

qs_h5 *qs__lua_check_results(lua_State *L, int idx) { return check_results(L, idx)->h; }
