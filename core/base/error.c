#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QS_ERRMSG_MAX 2048
static _Thread_local char qs_errmsg[QS_ERRMSG_MAX];

int qs_error_set(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(qs_errmsg, sizeof qs_errmsg, fmt, ap);
    va_end(ap);
    return code;
}

int qs_error_prefix(int code, const char *fmt, ...) {
    char prefix[512], old[QS_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, qs_errmsg, sizeof old);
    size_t n = strlen(prefix);
    if (n + 2 >= sizeof qs_errmsg) return code;
    memcpy(qs_errmsg, prefix, n);
    memcpy(qs_errmsg + n, ": ", 2);
    size_t room = sizeof qs_errmsg - n - 3, m = strnlen(old, room);
    memcpy(qs_errmsg + n + 2, old, m);
    qs_errmsg[n + 2 + m] = '\0';
    return code;
}

const char *qs_error_message(void) { return qs_errmsg; }

void qs_error_clear(void) { qs_errmsg[0] = '\0'; }

void qs__assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "qscope: internal invariant failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
