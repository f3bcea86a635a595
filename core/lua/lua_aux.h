/* Helpers every Lua binding uses (like Lua's lauxlib): checked option tables, result-table
 * builders, the two ways to fail, window options and site/layer options. They know no
 * class of the qs module, so every binding file can use them. */
#ifndef QS_LUA_AUX_H
#define QS_LUA_AUX_H

#include <lua.h>

#include "fields.h"
#include "model.h"
#include "text.h"
#include "windows.h"

/* Raises unless every key of the table at idx is in `allowed` (NULL-terminated). */
void qs__lua_check_keys(lua_State *L, int idx, const char *what, const char *const *allowed);
/* t[key] of the option table at idx, or def when absent; raises on a wrong type. */
/* An integer option; qs__lua_opt_int raises unless it fits in an int (the callers store it
 * in one), qs__lua_opt_i64 takes any Lua integer (token counts, seeds). */
lua_Integer qs__lua_opt_int(lua_State *L, int idx, const char *key, lua_Integer def);
lua_Integer qs__lua_opt_i64(lua_State *L, int idx, const char *key, lua_Integer def);
lua_Number qs__lua_opt_num(lua_State *L, int idx, const char *key, lua_Number def);
const char *qs__lua_opt_str(lua_State *L, int idx, const char *key, const char *def);
int qs__lua_opt_bool(lua_State *L, int idx, const char *key, int def);

/* Window options from an option table (keys ctx, stride, score, bos, max_tokens, docs,
 * skip_docs); raises on bad values. */
void qs__lua_window_opts(lua_State *L, int idx, const qs_model *m, qs_window_opts *wo);
/* The window keys, for qs__lua_check_keys lists. */
#define QS_LUA_WINDOW_KEYS \
    "text", "ctx", "stride", "score", "bos", "max_tokens", "docs", "skip_docs"
/* Builds windows over a text like qs_windows_build, charging the tokenizer's working
 * memory (an estimate, QS_LUA_TOKENIZE_BYTES per byte tokenized) to the script's memory
 * limit for the duration of the call; raises on failure, prefixed with `what`. */
#define QS_LUA_TOKENIZE_BYTES 48
void qs__lua_windows_build(lua_State *L, qs_windows *ws, const qs_tokenizer *tok, const qs_text *t,
                           const qs_window_opts *wo, const char *what);

/* Reads site = "<name>" and layer = <n> from the option table at idx into *site and
 * *layer; raises "<what>: site '...' is not one of ..." or "<what>: layer must be 0..N for
 * <site>" (resid has one layer more: the stream after the last block). */
void qs__lua_site_layer(lua_State *L, int idx, const char *what, const qs_config *cfg, int *site,
                        int *layer);

/* Where a script may write (lua_files.c): raises "<what>: <path> exists and was neither
 * created by this script nor given on the command line ..." unless path is new, was
 * created by this script, is named by a command-line parameter value, or (append_results)
 * already holds qscope results. qs__lua_write_created records a file the script made. */
void qs__lua_write_check(lua_State *L, const char *path, const char *what, int append_results);
void qs__lua_write_created(lua_State *L, const char *path);

/* Misuse: raises a Lua error carrying qs_error_message(), prefixed with `what`. */
int qs__lua_fail(lua_State *L, const char *what);
/* An expected failure: pushes nil and "<what>: <qs_error_message()>"; returns 2, so a
 * binding ends with `return qs__lua_nil_error(L, "m:eval");` (io.open's convention). */
int qs__lua_nil_error(lua_State *L, const char *what);

/* t[key] = value helpers for building result tables (table on top of the stack) */
void qs__lua_set_num(lua_State *L, const char *key, double v);
void qs__lua_set_int(lua_State *L, const char *key, long long v);
void qs__lua_set_str(lua_State *L, const char *key, const char *v);
/* every field (fields.h) as t[name] = number / integer / string */
void qs__lua_set_fields(lua_State *L, const qs_field *f, size_t n);

#endif
