/* Minimal test harness for the unit tests: CHECK keeps going and counts failures, the
 * summary line is the plain "N passed, N failed" that CI reads. */
#ifndef QS_TEST_CHECK_H
#define QS_TEST_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (cond)                                                           \
            check_passed++;                                                 \
        else {                                                              \
            check_failed++;                                                 \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                   \
    } while (0)

#define CHECK_MSG(cond, ...)                                                \
    do {                                                                    \
        if (cond)                                                           \
            check_passed++;                                                 \
        else {                                                              \
            check_failed++;                                                 \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
        }                                                                   \
    } while (0)

/* |a - b| <= tol, with a message showing both values */
#define CHECK_NEAR(a, b, tol)                                                                 \
    CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%.9g vs %.9g (tol %g)", (double)(a), \
              (double)(b), (double)(tol))

static inline int check_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
