/* An embedded Lua 5.4 sandbox: a state with only safe libraries, strict globals, resource
 * limits, and a runner that turns a failed script into one message. It knows nothing of
 * qscope: the host adds its own globals (qs_lua_set_global), e.g. the `qs` module
 * (lua_qs.h) and the command-line parameters (lua_params.h).
 *
 * What a script sees (everything else is absent, so touching it is an error):
 *   base       without dofile and loadfile; `load` accepts source text only (its mode
 *              argument is forced to "t"), `collectgarbage` accepts only "collect",
 *              "step", "count" and "isrunning", `setmetatable` refuses a metatable with
 *              a __gc field (Lua runs finalizers with hooks off, outside the limits)
 *   string     without string.dump
 *   table, math, utf8, coroutine
 *   os         clock, time, date only (no execute, exit, remove, rename, getenv, tmpname,
 *              setlocale, difftime)
 * Absent on purpose: io, package/require (so no C modules and no package.loadlib), debug.
 * File policy: a script reaches files only through qs.* functions, which the host
 * validates; there is no way to open, run or delete a file from Lua itself.
 *
 * Globals are strict: reading a name that is not defined raises "undefined global 'x'",
 * assigning one raises "assignment to undefined global 'x' (use local)". The host adds
 * globals with qs_lua_set_global() / qs_lua_declare_global(); a script that really wants a
 * new global must say so with rawset(_G, name, value). _G's metatable is protected.
 *
 * Limits (qs_lua_limits) are checked from a count hook every QS_LUA_HOOK_PERIOD VM
 * instructions and by a counting allocator. The allocator also counts what the bindings
 * charge for the C memory they allocate for the script (texts, token arrays, tokenizer
 * working memory: qs_lua_charge); model weights (mapped from their file) are not counted.
 * A long call into C (a qs.* forward pass, a pathological string pattern) finishes before
 * the next time check. The hook
 * is installed only when a time or instruction limit is set: with any hook, Lua 5.4's VM
 * takes its slow path on every instruction (a pure-Lua arithmetic loop ran about 2x
 * slower here), which does not matter for scripts whose time goes into qs.* calls.
 * A memory stop carries no position or traceback: Lua does not run the message handler
 * for memory errors.
 *
 * Errors: functions return QS_OK or a qs_status code and set the thread-local message
 * (core/error.h). Only misuse (a NULL state) is an assertion. */
#ifndef QS_LUA_SANDBOX_H
#define QS_LUA_SANDBOX_H

#include <stddef.h>

#include <lauxlib.h>
#include <lua.h>

/* Lua-managed memory allowed by default: large enough for any sane sweep script (tables
 * of results, strings), small enough that a runaway loop fails with a message instead of
 * dragging the machine into swap. */
#define QS_LUA_DEFAULT_MAX_MEMORY ((size_t)4 << 30) /* 4 GiB */
/* Instructions between two limit checks. */
#define QS_LUA_HOOK_PERIOD 1000

typedef struct qs_lua_limits {
    double max_seconds;                  /* wall-clock time per run; 0 = no limit */
    unsigned long long max_instructions; /* VM instructions per run (granularity
                                            QS_LUA_HOOK_PERIOD); 0 = no limit */
    size_t max_memory;                   /* bytes of Lua-managed memory; 0 = no limit */
} qs_lua_limits;

/* { 0 s, 0 instructions, QS_LUA_DEFAULT_MAX_MEMORY }: no time or instruction limit. */
qs_lua_limits qs_lua_limits_default(void);

/* Creates a sandboxed state as described above.
 * lim: NULL for qs_lua_limits_default(). *out receives the state (NULL on failure); free it
 * with qs_lua_close(). Errors: QS_ERR_ARG (negative/NaN max_seconds), QS_ERR_NOMEM. */
int qs_lua_new(lua_State **out, const qs_lua_limits *lim);

/* Closes the state and frees the allocator context. NULL is harmless. */
void qs_lua_close(lua_State *L);

/* Pops the value on top of L's stack and stores it as global `name`, declared, so scripts
 * may read it (e.g. the `qs` module). Errors: QS_ERR_NOMEM (memory limit). */
int qs_lua_set_global(lua_State *L, const char *name);

/* Declares global `name` without a value: scripts may read it (nil until set) and assign
 * it, e.g. a result the host reads back after the run. Errors: QS_ERR_NOMEM. */
int qs_lua_declare_global(lua_State *L, const char *name);

/* Loads `path` as Lua source (bytecode is refused) and runs it under the limits, with a
 * traceback on runtime errors. Syntax errors read "path:line: message"; runtime errors
 * "path:line: message" followed by "stack traceback:"; a limit stop names the limit.
 * errmsg_out: optional; on failure *errmsg_out receives a malloc'd copy of the full message
 * (the caller frees it), on success NULL. The same message (truncated to the error
 * buffer) is set with qs_error_set. Returns QS_OK, QS_ERR_IO (cannot open or read path,
 * the message names it) or QS_ERR_SCRIPT (syntax, bytecode, runtime error, limit). The script's
 * return values are discarded. */
int qs_lua_run_file(lua_State *L, const char *path, char **errmsg_out);

/* As qs_lua_run_file, for a source string; chunkname is used in messages ("=name" prints
 * as given, see lua_load). code is NUL-terminated. Returns QS_OK or QS_ERR_SCRIPT. */
int qs_lua_run_string(lua_State *L, const char *code, const char *chunkname, char **errmsg_out);

/* Bytes of Lua-managed memory currently allocated by L, plus the C memory charged to it. */
size_t qs_lua_memory_used(lua_State *L);

/* C memory that a binding allocates for the script (a text, a tokenizer's working memory)
 * counts against the same limit as Lua's own: qs_lua_charge adds `bytes` (after a full
 * collection if they do not fit at first) or raises "<what>: not enough memory: ..." before
 * anything is allocated; qs_lua_uncharge gives them back when that memory is freed. */
void qs_lua_charge(lua_State *L, size_t bytes, const char *what);
void qs_lua_uncharge(lua_State *L, size_t bytes);

/* Registers a userdata class: a metatable `name` (luaL_newmetatable, so objects are checked
 * with luaL_checkudata(L, i, name)) whose __index is a table of `methods`, plus the given
 * `metamethods` (__gc, __close, __tostring, ...). Either list may be NULL; both end with
 * {NULL, NULL}. The metatable is protected (__metatable). Leaves nothing on the stack.
 * Errors: QS_ERR_ARG (name already registered), QS_ERR_NOMEM. */
int qs_lua_class_register(lua_State *L, const char *name, const luaL_Reg *methods,
                          const luaL_Reg *metamethods);

/* internal (the sandbox and its hosts): calls f(v1..vn, lightuserdata ud) in protected
 * mode, consuming the n values on top of the stack, so that a Lua error (including the
 * memory limit) becomes a code and message instead of a panic. A raised error returns
 * errcode with the error's text; a memory error returns QS_ERR_NOMEM. */
int qs__lua_protect(lua_State *L, lua_CFunction f, void *ud, int n, int errcode);

#endif
