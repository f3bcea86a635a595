/* The Lua sandbox: which libraries a script gets, strict globals, the counting allocator
 * and the instruction hook that enforce the limits, and the runner that turns a failed
 * script into one message with its position and traceback. */
#include "lua_sandbox.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lualib.h>

#include "error.h"
#include "fileio.h"

enum { TRIP_NONE, TRIP_TIME, TRIP_INSTRUCTIONS };

/* Per-state context, reachable from any thread of the state through lua_getallocf. */
typedef struct qs_lua_ctx {
    qs_lua_limits lim;
    size_t used;                     /* bytes currently allocated by Lua */
    size_t charged;                  /* C memory qs.* bindings hold for the script */
    int refused;                     /* the allocator refused a request (limit reached) */
    int period;                      /* instructions between hook calls */
    unsigned long long instructions; /* executed so far in this run (multiples of period) */
    double deadline;                 /* monotonic seconds at which the run must stop */
    int tripped;                     /* TRIP_*: which limit stopped the run */
} qs_lua_ctx;

/* The registry key of the set of declared-but-possibly-nil global names. */
static const char declared_key = 'g';

static qs_lua_ctx *ctx_of(lua_State *L) {
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "4 GiB", "64 MiB" or "123456 bytes" */
static void format_bytes(char *buf, size_t len, size_t n) {
    if (n && n % ((size_t)1 << 30) == 0)
        snprintf(buf, len, "%zu GiB", n >> 30);
    else if (n && n % ((size_t)1 << 20) == 0)
        snprintf(buf, len, "%zu MiB", n >> 20);
    else
        snprintf(buf, len, "%zu bytes", n);
}

/* ---- limits ------------------------------------------------------------------------ */

/* lua_Alloc that counts live bytes and refuses growth beyond the limit. Lua answers a
 * refusal with an emergency collection and one retry, then raises "not enough memory".
 * Shrinking and freeing never fail, as Lua requires. */
static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    qs_lua_ctx *c = ud;
    size_t old = ptr ? osize : 0; /* with ptr == NULL, osize is a type tag */
    if (nsize == 0) {
        free(ptr);
        c->used -= old;
        return NULL;
    }
    size_t total = c->used + c->charged;
    if (nsize > old && c->lim.max_memory &&
        (total > c->lim.max_memory || nsize - old > c->lim.max_memory - total)) {
        c->refused = 1;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p) c->used = c->used - old + nsize;
    return p;
}

/* Count hook: adds up instructions and looks at the clock. Once a limit is passed it
 * raises on every instruction, so a script that catches the error with pcall cannot run
 * on: the next instruction outside the pcall raises again. */
static void limit_hook(lua_State *L, lua_Debug *ar) {
    qs_lua_ctx *c = ctx_of(L);
    if (c->tripped == TRIP_NONE) {
        c->instructions += (unsigned long long)c->period;
        if (c->lim.max_instructions && c->instructions >= c->lim.max_instructions)
            c->tripped = TRIP_INSTRUCTIONS;
        else if (c->lim.max_seconds > 0 && now_seconds() >= c->deadline)
            c->tripped = TRIP_TIME;
        else
            return;
        lua_sethook(L, limit_hook, LUA_MASKCOUNT, 1);
    }
    char msg[128];
    if (c->tripped == TRIP_TIME)
        snprintf(msg, sizeof msg, "script exceeded its time limit of %g s", c->lim.max_seconds);
    else
        snprintf(msg, sizeof msg, "script exceeded its instruction limit of %llu instructions",
                 c->lim.max_instructions);
    luaL_where(L, 0); /* inside a hook, level 0 is the Lua function being run */
    lua_pushstring(L, msg);
    lua_concat(L, 2);
    lua_error(L);
}

/* ---- restricted base functions ------------------------------------------------------- */

/* load(chunk [, chunkname [, mode [, env]]]) with mode forced to "t": a binary chunk gets
 * the usual nil, "attempt to load a binary chunk (mode is 't')". */
static int sandbox_load(lua_State *L) {
    int n = lua_gettop(L);
    if (n < 3) lua_settop(L, 3); /* keeps env absent (none) when it was not given */
    lua_pushliteral(L, "t");
    lua_replace(L, 3);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* collectgarbage with the options that inspect or help the collector. Stopping it or
 * retuning it is the host's decision: a stopped collector would let garbage pile up to
 * the memory limit and fail a sweep for a reason unrelated to the script's work. */
static int sandbox_collectgarbage(lua_State *L) {
    static const char *const allowed[] = {"collect", "step", "count", "isrunning", NULL};
    const char *opt = luaL_optstring(L, 1, "collect");
    for (int i = 0; allowed[i]; i++) {
        if (strcmp(opt, allowed[i]) == 0) {
            lua_pushvalue(L, lua_upvalueindex(1));
            lua_insert(L, 1);
            lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
            return lua_gettop(L);
        }
    }
    return luaL_error(L,
                      "collectgarbage('%s') is not allowed in a qscope script "
                      "(allowed: collect, step, count, isrunning)",
                      opt);
}

/* setmetatable refusing a metatable that has a __gc field. Lua runs finalizers with hooks
 * switched off (lgc.c GCTM), so a __gc that loops forever escaped the time and instruction
 * limits, during the run or in lua_close after it. Lua marks an object for finalization
 * only if __gc is present when the metatable is set, so checking here is enough: adding
 * __gc to the metatable later has no effect. The host's own userdata get their __gc from C. */
static int sandbox_setmetatable(lua_State *L) {
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc metamethods are not allowed in a qscope "
                                 "script (finalizers would run outside its time limit)");
        lua_pop(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* ---- strict globals ---------------------------------------------------------------- */

static int strict_index(lua_State *L) { /* (_G, key); upvalue 1: declared names */
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 0; /* declared, still nil */
    const char *name = luaL_tolstring(L, 2, NULL);
    return luaL_error(L, "undefined global '%s'", name);
}

static int strict_newindex(lua_State *L) { /* (_G, key, value) */
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) {
        lua_settop(L, 3);
        lua_rawset(L, 1);
        return 0;
    }
    const char *name = luaL_tolstring(L, 2, NULL);
    return luaL_error(L, "assignment to undefined global '%s' (use local)", name);
}

/* ---- state creation ---------------------------------------------------------------- */

static int panic_handler(lua_State *L) {
    /* only reachable through a bug: every host call into Lua here is protected */
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "qscope: unprotected Lua error: %s\n", msg ? msg : "(not a string)");
    return 0; /* Lua then aborts */
}

static void require_lib(lua_State *L, const char *name, lua_CFunction open) {
    luaL_requiref(L, name, open, 1);
    lua_pop(L, 1);
}

/* Runs protected: loads the libraries, trims them, installs strict globals. */
static int setup(lua_State *L) {
    require_lib(L, LUA_GNAME, luaopen_base);
    require_lib(L, LUA_COLIBNAME, luaopen_coroutine);
    require_lib(L, LUA_TABLIBNAME, luaopen_table);
    require_lib(L, LUA_STRLIBNAME, luaopen_string);
    require_lib(L, LUA_MATHLIBNAME, luaopen_math);
    require_lib(L, LUA_UTF8LIBNAME, luaopen_utf8);
    require_lib(L, LUA_OSLIBNAME, luaopen_os);

    lua_pushglobaltable(L);
    int g = lua_gettop(L);
    lua_pushnil(L);
    lua_setfield(L, g, "dofile");
    lua_pushnil(L);
    lua_setfield(L, g, "loadfile");
    lua_getfield(L, g, "load");
    lua_pushcclosure(L, sandbox_load, 1);
    lua_setfield(L, g, "load");
    lua_getfield(L, g, "collectgarbage");
    lua_pushcclosure(L, sandbox_collectgarbage, 1);
    lua_setfield(L, g, "collectgarbage");
    lua_getfield(L, g, "setmetatable");
    lua_pushcclosure(L, sandbox_setmetatable, 1);
    lua_setfield(L, g, "setmetatable");

    /* string.dump is reachable from the string table and from the strings' metatable
     * (("").dump), which is the same table */
    lua_getfield(L, g, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    /* lock the strings' metatable: getmetatable("") returns a marker, so a script cannot
     * reach or change what every string's methods resolve through */
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1)) {
        lua_pushliteral(L, "locked");
        lua_setfield(L, -2, "__metatable");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    /* a fresh os table with the harmless functions; the full one is also dropped from
     * package.loaded (the registry's _LOADED), so nothing keeps os.execute reachable */
    lua_getfield(L, g, LUA_OSLIBNAME);
    lua_createtable(L, 0, 3);
    static const char *const os_keep[] = {"clock", "time", "date", NULL};
    for (int i = 0; os_keep[i]; i++) {
        lua_getfield(L, -2, os_keep[i]);
        lua_setfield(L, -2, os_keep[i]);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, g, LUA_OSLIBNAME);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_insert(L, -2);
    lua_setfield(L, -2, LUA_OSLIBNAME);
    lua_pop(L, 2); /* _LOADED, full os */

    /* strict globals: _G's metatable, protected so setmetatable(_G, nil) fails */
    lua_newtable(L); /* declared names */
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &declared_key);
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, strict_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, strict_newindex, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushliteral(L, "strict globals (locked)");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, g);
    lua_settop(L, 0);
    return 0;
}

qs_lua_limits qs_lua_limits_default(void) {
    return (qs_lua_limits){
        .max_seconds = 0, .max_instructions = 0, .max_memory = QS_LUA_DEFAULT_MAX_MEMORY};
}

int qs_lua_new(lua_State **out, const qs_lua_limits *lim) {
    QS_ASSERT(out);
    *out = NULL;
    qs_lua_limits l = lim ? *lim : qs_lua_limits_default();
    if (!(l.max_seconds >= 0) || isinf(l.max_seconds))
        return qs_error_set(QS_ERR_ARG,
                            "Lua time limit must be a finite number of seconds "
                            ">= 0 (0 = none), got %g",
                            l.max_seconds);
    qs_lua_ctx *c = calloc(1, sizeof *c);
    if (!c) return qs_error_set(QS_ERR_NOMEM, "out of memory creating the Lua state");
    c->lim = l;
    lua_State *L = lua_newstate(sandbox_alloc, c);
    if (!L) {
        char lb[64];
        format_bytes(lb, sizeof lb, l.max_memory);
        free(c);
        return qs_error_set(QS_ERR_NOMEM, "cannot create the Lua state (memory limit %s)", lb);
    }
    lua_atpanic(L, panic_handler);
    int rc = qs__lua_protect(L, setup, NULL, 0, QS_ERR_SCRIPT);
    if (rc != QS_OK) {
        qs_lua_close(L);
        return qs_error_prefix(rc, "setting up the Lua sandbox");
    }
    *out = L;
    return QS_OK;
}

void qs_lua_close(lua_State *L) {
    if (!L) return;
    qs_lua_ctx *c = ctx_of(L);
    lua_close(L);
    free(c);
}

size_t qs_lua_memory_used(lua_State *L) {
    QS_ASSERT(L);
    return ctx_of(L)->used + ctx_of(L)->charged;
}

void qs_lua_charge(lua_State *L, size_t bytes, const char *what) {
    qs_lua_ctx *c = ctx_of(L);
    size_t max = c->lim.max_memory;
    if (max && (c->used + c->charged > max || bytes > max - (c->used + c->charged))) {
        lua_gc(L, LUA_GCCOLLECT); /* dead texts give their charge back in __gc */
        if (c->used + c->charged > max || bytes > max - (c->used + c->charged)) {
            char need[64], lim[64], use[64];
            format_bytes(need, sizeof need, bytes);
            format_bytes(lim, sizeof lim, max);
            format_bytes(use, sizeof use, c->used + c->charged);
            c->refused = 1;
            luaL_error(L,
                       "%s: not enough memory: it needs %s, and the script already uses %s "
                       "of its limit of %s",
                       what, need, use, lim);
        }
    }
    c->charged += bytes;
}

void qs_lua_uncharge(lua_State *L, size_t bytes) {
    qs_lua_ctx *c = ctx_of(L);
    c->charged -= bytes < c->charged ? bytes : c->charged;
}

int qs__lua_protect(lua_State *L, lua_CFunction f, void *ud, int n, int errcode) {
    if (!lua_checkstack(L, 3)) {
        lua_pop(L, n);
        return qs_error_set(QS_ERR_NOMEM, "Lua stack overflow");
    }
    lua_pushcfunction(L, f); /* a light C function: pushing allocates nothing */
    lua_insert(L, -(n + 1));
    lua_pushlightuserdata(L, ud);
    int st = lua_pcall(L, n + 1, 0, 0);
    if (st == LUA_OK) return QS_OK;
    int code = st == LUA_ERRMEM ? QS_ERR_NOMEM : errcode;
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (st == LUA_ERRMEM) {
        char lb[64];
        format_bytes(lb, sizeof lb, ctx_of(L)->lim.max_memory);
        qs_error_set(code, "not enough memory (Lua memory limit %s)", lb);
    } else {
        qs_error_set(code, "%s", msg ? msg : "(error object is not a string)");
    }
    lua_pop(L, 1);
    return code;
}

/* ---- globals ------------------------------------------------------------------------ */

static int set_global_p(lua_State *L) { /* (value, name) */
    const char *name = lua_touserdata(L, 2);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &declared_key);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, name);
    lua_pushglobaltable(L);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, name); /* declared now, so __newindex stores it */
    return 0;
}

int qs_lua_set_global(lua_State *L, const char *name) {
    QS_ASSERT(L && name);
    return qs__lua_protect(L, set_global_p, (void *)name, 1, QS_ERR_SCRIPT);
}

static int declare_global_p(lua_State *L) { /* (name) */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &declared_key);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, (const char *)lua_touserdata(L, 1));
    return 0;
}

int qs_lua_declare_global(lua_State *L, const char *name) {
    QS_ASSERT(L && name);
    return qs__lua_protect(L, declare_global_p, (void *)name, 0, QS_ERR_SCRIPT);
}

/* ---- running scripts ----------------------------------------------------------------- */

/* Message handler: the error text plus a traceback, while the failed stack still exists. */
static int traceback_handler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

struct load_args {
    const char *path, *code, *chunkname;
};

/* Protected loader: returns the chunk (or the error message) and the load status, so
 * even the allocations around lua_load cannot escape to the panic handler. */
static int load_p(lua_State *L) {
    const struct load_args *a = lua_touserdata(L, 1);
    int st = a->path ? luaL_loadfilex(L, a->path, "t")
                     : luaL_loadbufferx(L, a->code, strlen(a->code), a->chunkname, "t");
    lua_pushinteger(L, st);
    return 2;
}

static int fail(char **errmsg_out, int code, const char *msg) {
    qs_error_set(code, "%s", msg);
    if (errmsg_out) *errmsg_out = strdup(msg);
    return code;
}

/* Turns the error on top of the stack after status st into the reported message. Builds
 * it in C: the state may sit at its memory limit, where any Lua allocation would fail. */
static int report(lua_State *L, int st, char **errmsg_out) {
    qs_lua_ctx *c = ctx_of(L);
    char lb[64];
    format_bytes(lb, sizeof lb, c->lim.max_memory);
    const char *msg =
        lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(error object is not a string)";
    size_t len = strlen(msg) + 160;
    char *buf = malloc(len);
    if (!buf) {
        lua_pop(L, 1);
        return fail(errmsg_out, QS_ERR_NOMEM, "out of memory reporting a Lua error");
    }
    if (st == LUA_ERRMEM && c->refused) /* no traceback: Lua skips the handler here */
        snprintf(buf, len, "script exceeded its memory limit of %s (not enough memory)", lb);
    else if (st == LUA_ERRMEM)
        snprintf(buf, len, "not enough memory (the system refused an allocation)");
    else if (c->refused && strstr(msg, "not enough memory")) /* caught and raised again */
        snprintf(buf, len, "%s\n(the script reached its memory limit of %s)", msg, lb);
    else
        snprintf(buf, len, "%s", msg);
    lua_pop(L, 1);
    int rc = fail(errmsg_out, QS_ERR_SCRIPT, buf);
    free(buf);
    return rc;
}

static int run(lua_State *L, const struct load_args *a, char **errmsg_out) {
    QS_ASSERT(L);
    if (errmsg_out) *errmsg_out = NULL;
    qs_lua_ctx *c = ctx_of(L);
    c->refused = 0;
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 4)) return fail(errmsg_out, QS_ERR_SCRIPT, "Lua stack overflow");

    lua_pushcfunction(L, load_p);
    lua_pushlightuserdata(L, (void *)a);
    int st = lua_pcall(L, 1, 2, 0);
    if (st != LUA_OK) return report(L, st, errmsg_out);
    st = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (st != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (st == LUA_ERRSYNTAX && msg && strstr(msg, "attempt to load a binary chunk")) {
            char buf[512];
            snprintf(buf, sizeof buf,
                     "%s: precompiled Lua bytecode is refused; qscope runs "
                     "Lua source text only",
                     a->path ? a->path : a->chunkname);
            lua_pop(L, 1);
            return fail(errmsg_out, QS_ERR_SCRIPT, buf);
        }
        int rc = report(L, st, errmsg_out);
        return st == LUA_ERRFILE ? QS_ERR_IO : rc; /* e.g. the path is a directory */
    }

    c->tripped = TRIP_NONE;
    c->instructions = 0;
    c->deadline = now_seconds() + c->lim.max_seconds;
    c->period = QS_LUA_HOOK_PERIOD;
    if (c->lim.max_instructions && c->lim.max_instructions < (unsigned long long)c->period)
        c->period = (int)c->lim.max_instructions;
    if (c->lim.max_seconds > 0 || c->lim.max_instructions)
        lua_sethook(L, limit_hook, LUA_MASKCOUNT, c->period);

    lua_pushcfunction(L, traceback_handler);
    lua_insert(L, -2);
    st = lua_pcall(L, 0, 0, top + 1);
    lua_sethook(L, NULL, 0, 0);
    lua_remove(L, top + 1); /* the handler */
    if (st != LUA_OK) return report(L, st, errmsg_out);
    QS_ASSERT(lua_gettop(L) == top);
    return QS_OK;
}

int qs_lua_run_file(lua_State *L, const char *path, char **errmsg_out) {
    QS_ASSERT(path);
    if (errmsg_out) *errmsg_out = NULL;
    int fd; /* a regular file: a named pipe would block luaL_loadfilex forever */
    if (qs_file_open_regular(path, &fd, NULL)) {
        char buf[1024];
        snprintf(buf, sizeof buf, "cannot open Lua script: %s", qs_error_message());
        return fail(errmsg_out, QS_ERR_IO, buf);
    }
    close(fd);
    struct load_args a = {.path = path};
    return run(L, &a, errmsg_out);
}

int qs_lua_run_string(lua_State *L, const char *code, const char *chunkname, char **errmsg_out) {
    QS_ASSERT(code);
    struct load_args a = {.code = code, .chunkname = chunkname ? chunkname : "=(string)"};
    return run(L, &a, errmsg_out);
}

/* ---- userdata classes ---------------------------------------------------------------- */

struct class_args {
    const char *name;
    const luaL_Reg *methods, *metamethods;
    int exists;
};

static int class_register_p(lua_State *L) {
    struct class_args *a = lua_touserdata(L, 1);
    if (!luaL_newmetatable(L, a->name)) {
        a->exists = 1;
        return 0;
    }
    if (a->metamethods) luaL_setfuncs(L, a->metamethods, 0);
    lua_newtable(L);
    if (a->methods) luaL_setfuncs(L, a->methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, a->name);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    return 0;
}

int qs_lua_class_register(lua_State *L, const char *name, const luaL_Reg *methods,
                          const luaL_Reg *metamethods) {
    QS_ASSERT(L && name);
    struct class_args a = {name, methods, metamethods, 0};
    int rc = qs__lua_protect(L, class_register_p, &a, 0, QS_ERR_SCRIPT);
    if (rc != QS_OK) return rc;
    if (a.exists) return qs_error_set(QS_ERR_ARG, "Lua class '%s' is already registered", name);
    return QS_OK;
}
