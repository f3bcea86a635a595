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
    char prefix[QS_ERRMSG_MAX], old[QS_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, qs_errmsg, sizeof old);
    snprintf(qs_errmsg, sizeof qs_errmsg, "%s: %s", prefix, old);
    return code;
}

const char *qs_error_message(void) { return qs_errmsg; }

void qs_error_clear(void) { qs_errmsg[0] = '\0'; }

void qs__assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "qscope: internal invariant failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
