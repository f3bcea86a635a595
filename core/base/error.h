/* qscope error reporting: int codes plus a thread-local message (the sqlite3_errmsg model).
 *
 * Below main() nothing calls exit(): a function that fails sets the message with
 * qs_error_set() and returns its code; the caller adds context with qs_error_prefix()
 * or passes the code up. The message names the file, tensor or field, the byte offset,
 * and what was expected versus what was found. */
#ifndef QS_ERROR_H
#define QS_ERROR_H

enum qs_status {
    QS_OK = 0,
    QS_ERR_IO = 1,          /* open/read/write/mmap failed */
    QS_ERR_FORMAT = 2,      /* malformed or inconsistent file content */
    QS_ERR_UNSUPPORTED = 3, /* valid but not handled: architecture, dtype, version */
    QS_ERR_ARG = 4,         /* bad argument or option value */
    QS_ERR_NOMEM = 5,       /* allocation failed or a size would overflow */
    QS_ERR_NUMERIC = 6,     /* NaN/Inf where a finite value is required */
    QS_ERR_SCRIPT = 7,      /* a Lua script failed */
};

/* Sets the message (printf-style) and returns code, so `return qs_error_set(...)` reads well. */
int qs_error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepends "context: " to the current message; returns code. */
int qs_error_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last message set on this thread ("" if none). Valid until the next qs_error_* call. */
const char *qs_error_message(void);
void qs_error_clear(void);

/* Always-on invariant check (not for input validation: inputs get error codes). */
#define QS_ASSERT(cond)                                          \
    do {                                                         \
        if (!(cond)) qs__assert_fail(#cond, __FILE__, __LINE__); \
    } while (0)
_Noreturn void qs__assert_fail(const char *expr, const char *file, int line);

#endif
