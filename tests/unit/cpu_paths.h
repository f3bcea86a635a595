/* Runs a test's checks once per SIMD path this CPU has (QS_CPU_PATH=scalar, avx2, avx512 up
 * to qs_cpu_path_supported()), each in a fresh process: qs_cpu_path() reads the environment
 * once per process, so this is how one machine tests every lower path against the same
 * scalar references. */
#ifndef QS_TEST_CPU_PATHS_H
#define QS_TEST_CPU_PATHS_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpu.h"

/* In the parent: re-runs argv[0] per path and returns 1 if any failed. In a child: returns
 * checks()'s status. */
static inline int run_per_cpu_path(char **argv, int (*checks)(void), const char *name) {
    if (getenv("QS_TEST_CPU_PATH_CHILD")) {
        printf("%s: path %s\n", name, qs_cpu_path_name(qs_cpu_path()));
        return checks();
    }
    int failed = 0;
    for (int p = QS_CPU_SCALAR; p <= qs_cpu_path_supported(); p++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            setenv("QS_CPU_PATH", qs_cpu_path_name(p), 1);
            setenv("QS_TEST_CPU_PATH_CHILD", "1", 1);
            execv("/proc/self/exe", argv);
            _exit(127);
        }
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) < 0) st = 1 << 8;
        int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        printf("%s: path %s %s\n", name, qs_cpu_path_name(p), ok ? "passed" : "FAILED");
        failed += !ok;
    }
    return failed ? 1 : 0;
}

#endif
