/* The Lua sandbox: every escape is attempted by a real script under tests/lua/ and must be
 * refused with a message that says what was refused and where. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "check.h"
#include "error.h"
#include "lua_params.h"
#include "lua_sandbox.h"

#define SCRIPT(name) "tests/lua/" name

/* Runs `path` in a fresh sandbox with the given limits and parameters; returns the status
 * and, in *msg, the malloc'd error message (NULL on success). */
static int run_script(const char *path, const qs_lua_limits *lim, int nparams, char *const *params,
                      char **msg) {
    lua_State *L = NULL;
    *msg = NULL;
    int rc = qs_lua_new(&L, lim);
    if (rc != QS_OK) {
        *msg = strdup(qs_error_message());
        return rc;
    }
    rc = qs_lua_declare_global(L, "result");
    if (rc == QS_OK) rc = qs_lua_set_params(L, nparams, params);
    if (rc == QS_OK)
        rc = qs_lua_run_file(L, path, msg);
    else
        *msg = strdup(qs_error_message());
    qs_lua_close(L);
    return rc;
}

static int has(const char *msg, const char *needle) { return msg && strstr(msg, needle); }

/* The script must fail with QS_ERR_SCRIPT and a message holding both needles (the second
 * may be NULL); prints the message when it does not. */
static void expect_refused(const char *path, const qs_lua_limits *lim, int nparams,
                           char *const *params, const char *needle1, const char *needle2) {
    char *msg = NULL;
    int rc = run_script(path, lim, nparams, params, &msg);
    CHECK_MSG(rc == QS_ERR_SCRIPT, "%s: rc %d", path, rc);
    CHECK_MSG(has(msg, needle1), "%s: expected '%s' in: %s", path, needle1, msg ? msg : "(null)");
    if (needle2)
        CHECK_MSG(has(msg, needle2), "%s: expected '%s' in: %s", path, needle2,
                  msg ? msg : "(null)");
    /* the thread-local message agrees with the returned one (up to its buffer size) */
    CHECK(msg && strncmp(qs_error_message(), msg, 200) == 0);
    free(msg);
}

static void test_escapes(void) {
    const qs_lua_limits *def = NULL;
    expect_refused(SCRIPT("escape_os_execute.lua"), def, 0, NULL,
                   "escape_os_execute.lua:2:", "attempt to call a nil value (field 'execute')");
    CHECK(access("/tmp/qscope_sandbox_escaped", F_OK) != 0);
    expect_refused(SCRIPT("escape_io_popen.lua"), def, 0, NULL,
                   "escape_io_popen.lua:2:", "undefined global 'io'");
    expect_refused(SCRIPT("escape_io_open.lua"), def, 0, NULL,
                   "escape_io_open.lua:1:", "undefined global 'io'");
    expect_refused(SCRIPT("escape_bytecode_load.lua"), def, 0, NULL,
                   "escape_bytecode_load.lua:5:", "attempt to load a binary chunk (mode is 't')");
    expect_refused(SCRIPT("escape_string_dump.lua"), def, 0, NULL,
                   "escape_string_dump.lua:2:", "attempt to call a nil value (field 'dump')");
    expect_refused(SCRIPT("escape_string_method_dump.lua"), def, 0, NULL,
                   "escape_string_method_dump.lua:2:", "field 'dump'");
    expect_refused(SCRIPT("escape_debug_getinfo.lua"), def, 0, NULL,
                   "escape_debug_getinfo.lua:1:", "undefined global 'debug'");
    expect_refused(SCRIPT("escape_debug_sethook.lua"), def, 0, NULL,
                   "escape_debug_sethook.lua:2:", "undefined global 'debug'");
    expect_refused(SCRIPT("escape_package_loadlib.lua"), def, 0, NULL,
                   "escape_package_loadlib.lua:1:", "undefined global 'package'");
    expect_refused(SCRIPT("escape_require.lua"), def, 0, NULL,
                   "escape_require.lua:2:", "undefined global 'require'");
    expect_refused(SCRIPT("escape_dofile.lua"), def, 0, NULL,
                   "escape_dofile.lua:1:", "undefined global 'dofile'");
    expect_refused(SCRIPT("escape_loadfile.lua"), def, 0, NULL,
                   "escape_loadfile.lua:1:", "undefined global 'loadfile'");
    expect_refused(
        SCRIPT("escape_collectgarbage.lua"), def, 0, NULL,
        "escape_collectgarbage.lua:6:", "collectgarbage('stop') is not allowed in a qscope script");
    expect_refused(SCRIPT("escape_global_metatable.lua"), def, 0, NULL,
                   "escape_global_metatable.lua:2:", "cannot change a protected metatable");

    /* the rest of os, one line each */
    static const char *const os_gone[] = {"exit",    "remove",    "rename",  "getenv",
                                          "tmpname", "setlocale", "difftime"};
    for (size_t i = 0; i < sizeof os_gone / sizeof *os_gone; i++) {
        lua_State *L = NULL;
        CHECK(qs_lua_new(&L, NULL) == QS_OK);
        char code[64], *msg = NULL, want[64];
        snprintf(code, sizeof code, "os.%s('x')", os_gone[i]);
        snprintf(want, sizeof want, "(field '%s')", os_gone[i]);
        CHECK(qs_lua_run_string(L, code, "=oscheck", &msg) == QS_ERR_SCRIPT);
        CHECK_MSG(has(msg, want) && has(msg, "oscheck:1:"), "%s", msg ? msg : "(null)");
        free(msg);
        qs_lua_close(L);
    }
}

static int write_file(lua_State *L, const void *p, size_t sz, void *ud) {
    return fwrite(p, 1, sz, ud) == sz ? 0 : 1;
}

struct bytes {
    char data[4096];
    size_t len;
};

static int write_bytes(lua_State *L, const void *p, size_t sz, void *ud) {
    struct bytes *b = ud;
    if (sz > sizeof b->data - b->len) return 1;
    memcpy(b->data + b->len, p, sz);
    b->len += sz;
    return 0;
}

/* Bytecode made by an unrestricted host state is refused both as a file and through load. */
static void test_bytecode(void) {
    lua_State *plain = luaL_newstate();
    CHECK(luaL_loadstring(plain, "return 7") == LUA_OK);
    char path[] = "/tmp/qs_lua_bytecode_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    CHECK(lua_dump(plain, write_file, f, 0) == 0);
    fclose(f);

    lua_State *L = NULL;
    CHECK(qs_lua_new(&L, NULL) == QS_OK);
    char *msg = NULL;
    CHECK(qs_lua_run_file(L, path, &msg) == QS_ERR_SCRIPT);
    CHECK_MSG(has(msg, path) && has(msg, "precompiled Lua bytecode is refused"), "%s", msg);
    free(msg);

    /* the same bytes handed to the script as a string */
    static struct bytes bc;
    CHECK(lua_dump(plain, write_bytes, &bc, 0) == 0);
    CHECK(bc.len > 4 && memcmp(bc.data, LUA_SIGNATURE, 4) == 0);
    lua_pushlstring(L, bc.data, bc.len);
    CHECK(qs_lua_set_global(L, "bc") == QS_OK);
    CHECK(qs_lua_run_string(L,
                            "local f, err = load(bc, 'dumped', 'b')\n"
                            "assert(f == nil)\nerror(err, 0)",
                            "=bccheck", &msg) == QS_ERR_SCRIPT);
    CHECK_MSG(has(msg, "attempt to load a binary chunk (mode is 't')"), "%s", msg);
    free(msg);
    qs_lua_close(L);
    lua_close(plain);
    unlink(path);
}

static void test_limits(void) {
    qs_lua_limits lim = qs_lua_limits_default();
    CHECK(lim.max_seconds == 0 && lim.max_instructions == 0);
    CHECK(lim.max_memory == (size_t)4 << 30);

    lim.max_instructions = 1000000;
    expect_refused(SCRIPT("limit_infinite_loop.lua"), &lim, 0, NULL, "limit_infinite_loop.lua:1:",
                   "script exceeded its instruction limit of 1000000 instructions");
    expect_refused(SCRIPT("limit_pcall_loop.lua"), &lim, 0, NULL,
                   "limit_pcall_loop.lua:", "script exceeded its instruction limit");

    /* the same loop stopped by the clock (wall time, so no instruction limit here) */
    lim = qs_lua_limits_default();
    lim.max_seconds = 0.2;
    expect_refused(SCRIPT("limit_infinite_loop.lua"), &lim, 0, NULL,
                   "limit_infinite_loop.lua:1:", "script exceeded its time limit of 0.2 s");

    lim = qs_lua_limits_default();
    lim.max_memory = (size_t)64 << 20;
    expect_refused(SCRIPT("limit_memory.lua"), &lim, 0, NULL,
                   "script exceeded its memory limit of 64 MiB", NULL);
    expect_refused(SCRIPT("limit_string_rep.lua"), &lim, 0, NULL,
                   "script exceeded its memory limit of 64 MiB", NULL);

    /* a script that catches the memory error and raises it again keeps its traceback */
    lua_State *L = NULL;
    CHECK(qs_lua_new(&L, &lim) == QS_OK);
    char *msg = NULL;
    CHECK(qs_lua_run_string(L,
                            "local ok, e = pcall(string.rep, 'x', 1 << 30)\n"
                            "assert(not ok)\nerror(e)",
                            "=rethrow", &msg) == QS_ERR_SCRIPT);
    CHECK_MSG(has(msg, "rethrow:3: not enough memory") && has(msg, "stack traceback:") &&
                  has(msg, "memory limit of 64 MiB"),
              "%s", msg);
    free(msg);
    /* the state stays usable after a memory error, and the accounting comes back down */
    size_t before = qs_lua_memory_used(L);
    CHECK(before > 0 && before < ((size_t)1 << 20));
    CHECK(qs_lua_run_string(L,
                            "big = nil; local s = string.rep('y', 10 << 20)\n"
                            "assert(#s == 10 << 20)",
                            "=after", &msg) == QS_ERR_SCRIPT);
    CHECK_MSG(has(msg, "assignment to undefined global 'big'"), "%s", msg);
    free(msg);
    CHECK(qs_lua_declare_global(L, "big") == QS_OK);
    CHECK(qs_lua_run_string(L, "big = string.rep('y', 10 << 20)", "=keep", &msg) == QS_OK);
    CHECK(msg == NULL);
    size_t with_big = qs_lua_memory_used(L);
    CHECK_MSG(with_big >= (10u << 20), "%zu", with_big);
    CHECK(qs_lua_run_string(L, "big = nil; collectgarbage()", "=drop", &msg) == QS_OK);
    CHECK_MSG(qs_lua_memory_used(L) < (1u << 20), "%zu", qs_lua_memory_used(L));
    qs_lua_close(L);

    /* a limit too small for the libraries themselves fails cleanly at creation */
    lim.max_memory = 4096;
    L = (lua_State *)&lim;
    CHECK(qs_lua_new(&L, &lim) == QS_ERR_NOMEM);
    CHECK(L == NULL);
    CHECK(has(qs_error_message(), "4096 bytes"));

    lim = qs_lua_limits_default();
    lim.max_seconds = -1;
    CHECK(qs_lua_new(&L, &lim) == QS_ERR_ARG);
}

static void test_strict_globals(void) {
    expect_refused(SCRIPT("strict_read.lua"), NULL, 0, NULL,
                   "strict_read.lua:2:", "undefined global 'bitz'");
    expect_refused(SCRIPT("strict_write.lua"), NULL, 0, NULL,
                   "strict_write.lua:2:", "assignment to undefined global 'bitz' (use local)");

    /* host globals: set_global gives a value, declare_global allows a later assignment */
    lua_State *L = NULL;
    CHECK(qs_lua_new(&L, NULL) == QS_OK);
    lua_pushinteger(L, 41);
    CHECK(qs_lua_set_global(L, "answer") == QS_OK);
    CHECK(qs_lua_declare_global(L, "result") == QS_OK);
    char *msg = NULL;
    CHECK(qs_lua_run_string(L, "assert(result == nil)\nresult = answer + 1", "=host", &msg) ==
          QS_OK);
    CHECK(lua_getglobal(L, "result") == LUA_TNUMBER && lua_tointeger(L, -1) == 42);
    lua_pop(L, 1);
    CHECK(lua_gettop(L) == 0);
    /* a function definition at top level is a global assignment too */
    CHECK(qs_lua_run_string(L, "function helper() end", "=fn", &msg) == QS_ERR_SCRIPT);
    CHECK_MSG(has(msg, "fn:1: assignment to undefined global 'helper' (use local)"), "%s", msg);
    free(msg);
    qs_lua_close(L);
}

static void test_errors(void) {
    char *msg = NULL;
    expect_refused(SCRIPT("syntax_error.lua"), NULL, 0, NULL,
                   "tests/lua/syntax_error.lua:3:", "unexpected symbol near '='");

    int rc = run_script(SCRIPT("runtime_error.lua"), NULL, 0, NULL, &msg);
    CHECK(rc == QS_ERR_SCRIPT);
    CHECK_MSG(has(msg, "tests/lua/runtime_error.lua:2: attempt to index a nil value (local 'x')"),
              "%s", msg);
    CHECK_MSG(has(msg, "stack traceback:"), "%s", msg);
    CHECK_MSG(has(msg, "runtime_error.lua:2: in upvalue 'inner'"), "%s", msg);
    CHECK_MSG(has(msg, "runtime_error.lua:6: in local 'outer'"), "%s", msg);
    CHECK_MSG(has(msg, "runtime_error.lua:10: in main chunk"), "%s", msg);
    free(msg);

    rc = run_script("tests/lua/no_such_script.lua", NULL, 0, NULL, &msg);
    CHECK(rc == QS_ERR_IO);
    CHECK_MSG(has(msg, "cannot open Lua script: tests/lua/no_such_script.lua") &&
                  has(msg, "No such file"),
              "%s", msg);
    free(msg);

    rc = run_script("tests/lua", NULL, 0, NULL, &msg); /* refused before it is read */
    CHECK(rc == QS_ERR_IO);
    CHECK_MSG(has(msg, "tests/lua: is a directory"), "%s", msg);
    free(msg);

    /* an error object that is not a string */
    lua_State *L = NULL;
    CHECK(qs_lua_new(&L, NULL) == QS_OK);
    CHECK(qs_lua_run_string(L, "error({})", "=tbl", &msg) == QS_ERR_SCRIPT);
    CHECK_MSG(has(msg, "(error object is a table value)"), "%s", msg);
    free(msg);
    /* errmsg_out is optional */
    CHECK(qs_lua_run_string(L, "error('plain')", "=noout", NULL) == QS_ERR_SCRIPT);
    CHECK(has(qs_error_message(), "noout:1: plain"));
    qs_lua_close(L);
    qs_lua_close(NULL);
}

static void test_allowed(void) {
    char *msg = NULL;
    lua_State *L = NULL;
    /* under every limit at once: the hook must not disturb a well-behaved script */
    qs_lua_limits lim = {
        .max_seconds = 600, .max_instructions = 10000000, .max_memory = (size_t)64 << 20};
    CHECK(qs_lua_new(&L, &lim) == QS_OK);
    CHECK(qs_lua_declare_global(L, "result") == QS_OK);
    CHECK(qs_lua_set_params(L, 0, NULL) == QS_OK); /* the runner's param(), used below */
    int rc = qs_lua_run_file(L, SCRIPT("sandbox_ok.lua"), &msg);
    CHECK_MSG(rc == QS_OK, "%s", msg);
    free(msg);
    CHECK(lua_getglobal(L, "result") == LUA_TNUMBER && lua_tointeger(L, -1) == 42);
    lua_pop(L, 1);
    qs_lua_close(L);
}

static void test_params(void) {
    char *msg = NULL;
    char *ro[] = {"bits=4"};
    expect_refused(SCRIPT("params_readonly.lua"), NULL, 1, ro,
                   "params_readonly.lua:1:", "params is read-only: cannot set 'bits'");
    expect_refused(SCRIPT("params_rawset.lua"), NULL, 1, ro,
                   "params_rawset.lua:1:", "bad argument #1 to 'rawset' (table expected");

    char *good[] = {
        "bits=3",       "scale=0.5", "name=run7", "quick=true", "sites=attn_in,ffn_down_in",
        "groups=32,128"};
    int rc = run_script(SCRIPT("declare_params.lua"), NULL, 6, good, &msg);
    CHECK_MSG(rc == QS_OK, "%s", msg);
    free(msg);

    char *typo[] = {"bits=3", "zeta=1", "bitz=3"};
    expect_refused(SCRIPT("declare_params_unknown.lua"), NULL, 3, typo,
                   "declare_params_unknown.lua:2: unknown parameters 'bitz', 'zeta' on the "
                   "command line (the script declares 'bits', 'group')",
                   NULL);
    char *four[] = {"bits=four"};
    expect_refused(SCRIPT("declare_params_type.lua"), NULL, 1, four,
                   "declare_params_type.lua:2:", "parameter 'bits' expects a number, got 'four'");
    char *half[] = {"bits=4.5"};
    expect_refused(SCRIPT("declare_params_type.lua"), NULL, 1, half,
                   "declare_params_type.lua:2:", "parameter 'bits' expects an integer, got '4.5'");
    expect_refused(SCRIPT("declare_params_undeclared_read.lua"), NULL, 0, NULL,
                   "declare_params_undeclared_read.lua:2:", "undeclared parameter 'bitz'");

    /* plain params: converted values, absent keys read nil */
    lua_State *L = NULL;
    CHECK(qs_lua_new(&L, NULL) == QS_OK);
    char *mixed[] = {"n=8", "x=0.25", "hex=0x10", "on=false", "path=data/a b.txt", "e="};
    CHECK(qs_lua_set_params(L, 6, mixed) == QS_OK);
    rc = qs_lua_run_string(L,
                           "assert(params.n == 8 and math.type(params.n) == 'integer')\n"
                           "assert(params.x == 0.25 and params.hex == 16)\n"
                           "assert(params.on == false and params.path == 'data/a b.txt')\n"
                           "assert(params.e == '' and params.missing == nil)\n"
                           "assert((params.missing or 7) == 7)\n"
                           "assert(param('n', 1) == 8 and param('missing', 'd') == 'd')\n",
                           "=plain", &msg);
    CHECK_MSG(rc == QS_OK, "%s", msg);
    free(msg);
    CHECK(qs_lua_params_check_used(L) == QS_OK);
    /* param() checks the type against its default */
    CHECK(qs_lua_run_string(L, "return param('path', 1)", "=ptype", &msg) == QS_ERR_SCRIPT);
    CHECK_MSG(has(msg, "ptype:1: parameter 'path' expects a number, got 'data/a b.txt'"), "%s",
              msg);
    free(msg);

    /* unread parameters are reported by name after the run */
    char *unread[] = {"bits=4", "grup=128", "alpha=1"};
    CHECK(qs_lua_set_params(L, 3, unread) == QS_OK);
    CHECK(qs_lua_run_string(L, "local b = params.bits", "=partial", &msg) == QS_OK);
    CHECK(qs_lua_params_check_used(L) == QS_ERR_ARG);
    CHECK_MSG(strcmp(qs_error_message(),
                     "unknown parameters 'alpha', 'grup' (the script never read them)") == 0,
              "%s", qs_error_message());

    /* malformed assignments leave the previous params in place */
    char *noeq[] = {"bits"};
    CHECK(qs_lua_set_params(L, 1, noeq) == QS_ERR_ARG);
    CHECK(has(qs_error_message(), "'bits' must be written name=value"));
    char *badname[] = {"2bits=4"};
    CHECK(qs_lua_set_params(L, 1, badname) == QS_ERR_ARG);
    CHECK(has(qs_error_message(), "the name '2bits'"));
    char *twice[] = {"bits=4", "group=1", "bits=8"};
    CHECK(qs_lua_set_params(L, 3, twice) == QS_ERR_ARG);
    CHECK(has(qs_error_message(), "'bits' is given twice"));
    CHECK(qs_lua_run_string(L, "assert(params.grup == 128)", "=kept", &msg) == QS_OK);
    qs_lua_close(L);
}

/* A userdata class registered from C: methods, __gc on close, protected metatable. */
static int gc_calls;

static int counter_get(lua_State *L) {
    lua_pushinteger(L, *(lua_Integer *)luaL_checkudata(L, 1, "test.counter"));
    return 1;
}

static int counter_gc(lua_State *L) {
    gc_calls++;
    return 0;
}

static int counter_new(lua_State *L) {
    lua_Integer *p = lua_newuserdatauv(L, sizeof *p, 0);
    *p = luaL_checkinteger(L, 1);
    luaL_setmetatable(L, "test.counter");
    return 1;
}

static void test_class(void) {
    static const luaL_Reg methods[] = {{"get", counter_get}, {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", counter_gc}, {NULL, NULL}};
    lua_State *L = NULL;
    CHECK(qs_lua_new(&L, NULL) == QS_OK);
    CHECK(qs_lua_class_register(L, "test.counter", methods, meta) == QS_OK);
    CHECK(qs_lua_class_register(L, "test.counter", methods, meta) == QS_ERR_ARG);
    CHECK(has(qs_error_message(), "'test.counter' is already registered"));
    lua_pushcfunction(L, counter_new);
    CHECK(qs_lua_set_global(L, "counter") == QS_OK);
    char *msg = NULL;
    int rc = qs_lua_run_string(L,
                               "local c = counter(5)\n"
                               "assert(c:get() == 5)\n"
                               "assert(getmetatable(c) == 'test.counter')\n"
                               "local ok, e = pcall(setmetatable, c, nil)\n"
                               "assert(not ok)\n"
                               "assert(not pcall(c.get, 'not a counter'))\n",
                               "=class", &msg);
    CHECK_MSG(rc == QS_OK, "%s", msg);
    free(msg);
    gc_calls = 0;
    qs_lua_close(L);
    CHECK(gc_calls == 1);
}

int main(void) {
    test_escapes();
    test_bytecode();
    test_limits();
    test_strict_globals();
    test_errors();
    test_allowed();
    test_params();
    test_class();
    return check_summary("test_lua_sandbox");
}
