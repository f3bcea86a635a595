/* Script parameters from the command line: `qscope run sweep.lua bits=4 group=128`.
 *
 * In Lua, three globals, installed by the first qs_lua_set_params on a sandboxed state
 * (lua_sandbox.h knows nothing of them):
 *   params              read-only table of every CLI parameter, values converted: a number
 *                       ("4", "0.5", "1e-3", "0x10") becomes a Lua number, true/false a
 *                       boolean, anything else stays a string. An absent key reads nil,
 *                       so `params.bits or 4` works; any write raises.
 *   param(name, def)    params[name] if given, else def. When def is a number or a boolean
 *                       the given value must have that type ("bits=four" raises).
 *   declare_params{ bits = 4, clip = "absmax", sites = { "attn_in" } }
 *                       the recommended form, at the top of a script: every CLI name must
 *                       be declared (else "unknown parameter 'bitz'", listing the declared
 *                       names); each CLI value is converted to the type of its default
 *                       (number, integer, boolean, string, or a list written "a,b,c" whose
 *                       items take the type of the default's first item). Returns the
 *                       merged read-only table, which is also stored as `params`; reading
 *                       an undeclared key of it raises "undeclared parameter 'x'".
 * Read-only tables are userdata proxies, so rawset cannot write them either; pairs, ipairs
 * and # work on them. */
#ifndef QS_LUA_PARAMS_H
#define QS_LUA_PARAMS_H

#include <lua.h>

/* Installs params/param/declare_params in L (a state from qs_lua_new) on the first call,
 * and replaces `params` with the n assignments "name=value" (name: [A-Za-z_][A-Za-z0-9_]*);
 * n = 0 gives an empty table. Errors (state unchanged): QS_ERR_ARG for a missing '=', a bad
 * name or a name given twice; QS_ERR_NOMEM. */
int qs_lua_set_params(lua_State *L, int n, char *const *assignments);

/* After a run: QS_OK when every CLI parameter was read by the script (through params,
 * param or declare_params), else QS_ERR_ARG "unknown parameter 'x' (the script never
 * read it)". For scripts that do not call declare_params, catches a mistyped name. */
int qs_lua_params_check_used(lua_State *L);

/* internal: 1 when some CLI parameter value names the file whose realpath() is resolved
 * (a file the user handed to the script, which it may then write), else 0. */
int qs__lua_param_names_file(lua_State *L, const char *resolved);

#endif
