/* The `qs` module that Lua experiments use: models, texts, results files, profiling,
 * planting, quantized evaluation, sweeps and the memory calculator.
 *
 * Objects are userdata with named metatables (created closed, filled only on success);
 * __gc and __close free them. Results come back as plain Lua tables so scripts can print
 * and branch on them. Option tables are checked: an unknown key is an error naming it, so
 * a typo fails loudly. Failures follow Lua's io library: misuse (a wrong type, an unknown
 * option, a malformed config name, a closed object) raises; an expected failure where a
 * script would reasonably go on (an evaluation config that cannot run on this model, a
 * quantizer that cannot run on these values) returns nil and a message.
 *
 * Files: lua_init.c is the registry of every class and of the qs functions (like Lua's
 * linit.c); each class keeps its one method table in its own file (lua_model.c,
 * lua_text.c, lua_results.c, lua_capture.c); the functions below are defined beside the
 * features they bind; lua_aux.h holds the helpers they all use. */
#ifndef QS_LUA_QS_H
#define QS_LUA_QS_H

#include <lua.h>
#include <lauxlib.h>

#include "model.h"
#include "text.h"

/* Registers every class and sets the global `qs` in a sandboxed state (lua_sandbox.h). */
int qs_lua_open_qs(lua_State *L);

/* ---- classes: names, payloads, checks ---------------------------------------------- */

#define QS_LUA_MODEL   "qs.model"
#define QS_LUA_TEXT    "qs.text"
#define QS_LUA_RESULTS "qs.results"
#define QS_LUA_CAPTURE "qs.capture"

typedef struct qs_lua_model {
    qs_model *m;
} qs_lua_model;
typedef struct qs_lua_text {
    qs_text t;
    size_t charged; /* bytes charged to the script's memory limit (qs_lua_charge) */
} qs_lua_text;

/* The object at idx, or a raised error (wrong type, closed). */
qs_model *qs__lua_check_model(lua_State *L, int idx);
qs_text *qs__lua_check_text(lua_State *L, int idx);
struct qs_h5;
struct qs_h5 *qs__lua_check_results(lua_State *L, int idx);

/* One method table and one metamethod table per class (NULL-terminated). */
extern const luaL_Reg qs__lua_model_methods[], qs__lua_model_meta[];
extern const luaL_Reg qs__lua_text_methods[], qs__lua_text_meta[];
extern const luaL_Reg qs__lua_results_methods[], qs__lua_results_meta[];
extern const luaL_Reg qs__lua_capture_meta[];

/* ---- the qs functions -------------------------------------------------------------- */

int qs__lua_qs_model(lua_State *L);            /* lua_model.c */
int qs__lua_qs_text(lua_State *L);             /* lua_text.c */
int qs__lua_qs_results(lua_State *L);          /* lua_results.c */
int qs__lua_qs_config(lua_State *L);           /* lua_quant.c */
int qs__lua_qs_quantize(lua_State *L);         /* lua_quant.c */
int qs__lua_qs_memory(lua_State *L);           /* lua_quant.c */
int qs__lua_qs_outlier_channels(lua_State *L); /* lua_capture.c */
int qs__lua_qs_outlier_tokens(lua_State *L);   /* lua_capture.c */
int qs__lua_qs_bench_speed(lua_State *L);      /* lua_speed.c */

/* ---- model methods defined beside the features they bind ---------------------------- */

int qs__lua_model_eval(lua_State *L);            /* lua_quant.c */
int qs__lua_model_quantize_tensor(lua_State *L); /* lua_quant.c */
int qs__lua_model_remedy(lua_State *L);          /* lua_quant.c */
int qs__lua_model_quantize(lua_State *L);        /* lua_quant.c */
int qs__lua_model_profile(lua_State *L);         /* lua_capture.c */
int qs__lua_model_plant(lua_State *L);           /* lua_capture.c */
int qs__lua_model_save(lua_State *L);            /* lua_capture.c */
int qs__lua_model_sweep(lua_State *L);           /* lua_sweep.c */
int qs__lua_model_activations(lua_State *L);     /* lua_activations.c */

/* ---- distributed loops (lua_dist.c; dist.h) ------------------------------------------ */

/* m:eval{configs = {...}}: a list of configs as one distributed loop. */
int qs__lua_model_eval_list(lua_State *L);
/* Records that the model userdata at idx was loaded from files (so other ranks can load
 * it too); copies made in a script are not recorded. */
void qs__lua_dist_note_file(lua_State *L, int idx, const char *path, const char *tokenizer);
/* Whether a loop goes through the distribution layer: it writes a results file, or the
 * script runs under MPI. */
int qs__lua_dist_wanted(lua_State *L, int has_results);
/* m:sweep's loop through the distribution layer: rows to sink on rank 0 (and to table). */
struct qs_h5_table;
struct qs_sweep_opts;
struct qs_window_opts;
int qs__lua_dist_sweep(lua_State *L, int model_idx, const qs_model *m, const qs_text *t,
                       const struct qs_window_opts *wo, const struct qs_sweep_opts *o, struct qs_h5 *h,
                       struct qs_h5_table *table, const char *name,
                       int (*sink)(void *user, const void *row), void *user);

#endif
