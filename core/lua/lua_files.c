/* Which files a script may write. A script reaches files only through qs.* functions; of
 * those, m:save replaces a file and qs.results appends to one. Both may create a new file;
 * an existing one they may touch only when the user handed it to the script (a parameter
 * value on the command line names it, e.g. out=results/x.h5) or the script created it in
 * this run. qs.results may also append a run to an existing qscope results file, since
 * appending never changes what is there; any other existing file (a checkpoint, someone's
 * HDF5 data, ~/.bashrc) is refused. Paths are compared after realpath(), so a symbolic link
 * or "a/../b" does not get around the rule. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>

#include "h5store.h"
#include "lua_params.h"
#include "lua_aux.h"
#include "lua_qs.h"

/* registry key: realpath -> true for every file the script created */
static const char created_key = 'w';

static int created(lua_State *L, const char *resolved) {
    int yes = 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &created_key);
    if (lua_istable(L, -1)) {
        yes = lua_getfield(L, -1, resolved) != LUA_TNIL;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return yes;
}

void qs__lua_write_check(lua_State *L, const char *path, const char *what, int append_results) {
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT) return; /* a new file: the script's own */
    char resolved[PATH_MAX];
    if (!realpath(path, resolved)) {
        /* a dangling link, or no access: the writer reports what is wrong with it; a
         * dangling link is refused, since writing through it would create its target */
        if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
            luaL_error(L,
                       "%s: %s is a symbolic link to a missing file; refusing to write "
                       "through it",
                       what, path);
        return;
    }
    if (created(L, resolved) || qs__lua_param_names_file(L, resolved)) return;
    if (append_results && qs_h5_is_results(resolved)) return;
    luaL_error(L,
               "%s: %s exists%s and was neither created by this script nor given on the "
               "command line; a script may %s only such files (pass it as a parameter, e.g. "
               "out=%s)",
               what, path, append_results ? ", is not a qscope results file," : "",
               append_results ? "write to" : "replace", path);
}

void qs__lua_write_created(lua_State *L, const char *path) {
    char resolved[PATH_MAX];
    if (!realpath(path, resolved)) return;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &created_key);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &created_key);
    }
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, resolved);
    lua_pop(L, 1);
}
