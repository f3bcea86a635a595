/* qscope run SCRIPT.lua [name=value ...]: runs a Lua experiment in the sandbox with the qs
 * module. Parameters arrive in the read-only table `params` (see declare_params). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "fileio.h"
#include "lua_params.h"
#include "lua_qs.h"
#include "lua_sandbox.h"

/* The Lua hook checks --max-seconds between instructions; a script stuck inside one C call
 * (a pathological string pattern) never reaches it. This watchdog ends the process a few
 * seconds after the limit; rows already appended to results files are flushed and stay. */
static char watchdog_msg[512];

static void watchdog(int sig) {
    (void)sig;
    qs_file_out_remove_all(); /* a checkpoint being saved (m:save) is not left half-written */
    ssize_t w = write(2, watchdog_msg, strlen(watchdog_msg));
    (void)w;
    _exit(1);
}

static void arm_watchdog(const char *script, double secs) {
    snprintf(watchdog_msg, sizeof watchdog_msg,
             "qscope run: error: %s exceeded its time limit of %g s inside a C call; stopped\n",
             script, secs);
    signal(SIGALRM, watchdog);
    alarm((unsigned)ceil(secs) + 5);
}

int qs_cmd_run(int argc, char **argv) {
    qs_cli_opt opts[] = {
        {"max-seconds", "S", "stop the script after S seconds of wall time (default: no limit)"},
        {"max-memory", "MB", "memory the script's Lua values may use", "4096"},
        {"threads", "N", "threads (default: all cores; under MPI, shared among a host's ranks)"},
        QS_CLI_DIST_OPTS,
    };
    const int n = QS_COUNT(opts);
    const char *pos[QS_CLI_MAX_REPEAT + 1];
    int n_pos;
    int r = qs_cli_parse(argc, argv, "run", "SCRIPT.lua [name=value ...] [options]", opts, n, pos,
                         QS_CLI_MAX_REPEAT + 1, &n_pos);
    if (r) return r == 2 ? 0 : 1;
    if (n_pos < 1) {
        fprintf(stderr, "qscope run: error: expected a SCRIPT.lua (see --help)\n");
        return 1;
    }
    double secs = 0, mb = 4096;
    long threads = 0;
    if (qs_cli_double(opts, n, "max-seconds", 0, 1e9, &secs) ||
        qs_cli_double(opts, n, "max-memory", 1, 1e9, &mb) ||
        qs_cli_int(opts, n, "threads", 1, 4096, &threads))
        return qs_cli_fail("run");
    qs_cli_threads(threads);
    /* the script runs on rank 0; m:sweep{} and m:eval{configs=} spread their items over
     * every rank, whose part is to serve them (dist.h) */
    qs_dist_opts dopt;
    if (qs_cli_dist_opts(opts, n, &dopt)) return qs_cli_fail("run");
    if (qs_dist_rank() != 0) return qs_dist_serve() ? qs_cli_fail("run") : 0;
    qs_dist_script(&dopt);
    qs_lua_limits lim = qs_lua_limits_default();
    lim.max_seconds = secs;
    lim.max_memory = (size_t)(mb * 1024 * 1024);
    lua_State *L;
    if (qs_lua_new(&L, &lim)) return qs_cli_fail("run");
    int rc = qs_lua_set_params(L, n_pos - 1, (char *const *)(pos + 1));
    if (rc == QS_OK) rc = qs_lua_open_qs(L);
    if (rc == QS_OK) {
        /* for the provenance of any results file the script opens */
        char cmd[4096];
        size_t k = (size_t)snprintf(cmd, sizeof cmd, "qscope run");
        for (int i = 0; i < n_pos && k < sizeof cmd; i++)
            k += (size_t)snprintf(cmd + k, sizeof cmd - k, " %s", pos[i]);
        lua_pushstring(L, pos[0]);
        lua_setfield(L, LUA_REGISTRYINDEX, "qs.script_path");
        lua_pushstring(L, cmd);
        lua_setfield(L, LUA_REGISTRYINDEX, "qs.command_line");
    }
    if (rc == QS_OK && secs > 0) arm_watchdog(pos[0], secs);
    if (rc == QS_OK) rc = qs_lua_run_file(L, pos[0], NULL);
    alarm(0);
    if (rc == QS_OK) rc = qs_lua_params_check_used(L);
    qs_lua_close(L);
    return rc ? qs_cli_fail("run") : 0;
}
