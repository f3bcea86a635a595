/* Test helpers for tensors in their stored type (core/model/tensor.h). */
#ifndef QS_TEST_TENSOR_UTIL_H
#define QS_TEST_TENSOR_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "tensor.h"

/* The tensor's values as f32 in logical order, in a malloc'd copy (free it); NULL if t is. */
static inline float *tensor_values(const qs_tensor *t) {
    if (!t) return NULL;
    float *p = malloc((size_t)qs_tensor_numel(t) * sizeof *p);
    if (p) qs_tensor_rows(p, t, 0, t->rows);
    return p;
}

/* 1 if a and b hold the same f32 values bit for bit (shapes equal). */
static inline int tensor_values_equal(const qs_tensor *a, const qs_tensor *b) {
    if (!a || !b || a->rows != b->rows || a->cols != b->cols) return 0;
    float *x = tensor_values(a), *y = tensor_values(b);
    int same = x && y && memcmp(x, y, (size_t)qs_tensor_numel(a) * sizeof *x) == 0;
    free(x);
    free(y);
    return same;
}

#endif
