/* Tensors in their stored precision (see tensor.h). */
#include "tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

int qs_tensor_init(qs_tensor *t, const char *name, uint32_t type, const void *data, size_t n_bytes,
                   int64_t rows, int64_t cols, const qs_packed_layout *pk) {
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    const qs_dtype_traits *tr = qs_dtype_traits_get(type);
    if (!tr) return qs_error_set(QS_ERR_FORMAT, "%s: unknown storage type %u", name, type);
    if (!tr->rows)
        return qs_error_set(QS_ERR_UNSUPPORTED, "%s: tensor type %s cannot be expanded by qscope",
                            name, tr->name);
    if (rows < 1 || cols < 1)
        return qs_error_set(QS_ERR_FORMAT, "%s: empty shape (%lld, %lld)", name, (long long)rows,
                            (long long)cols);
    t->rows = rows;
    t->cols = cols;
    t->type = type;
    t->data = data;
    t->n_bytes = n_bytes;
    if (type == QS_DTYPE_PACKED) {
        if (!pk || pk->rows != rows || pk->cols != cols)
            return qs_error_set(QS_ERR_FORMAT, "%s: packed layout does not match (%lld, %lld)",
                                name, (long long)rows, (long long)cols);
        int rc = qs_packed_check(pk, n_bytes, name);
        if (rc) return rc;
        t->pk = pk;
        qs_packed_label(pk, t->stored_type, sizeof t->stored_type);
        return QS_OK;
    }
    t->row_bytes = qs_dtype_row_bytes(type, cols);
    if (t->row_bytes == 0)
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: a row of %lld values is not a whole number of %s "
                            "blocks (%d values each)",
                            name, (long long)cols, tr->name, tr->block_size);
    if (n_bytes / t->row_bytes != (size_t)rows || n_bytes % t->row_bytes != 0)
        return qs_error_set(QS_ERR_FORMAT, "%s: %zu bytes of %s, the shape (%lld, %lld) needs %zu",
                            name, n_bytes, tr->name, (long long)rows, (long long)cols,
                            t->row_bytes * (size_t)rows);
    snprintf(t->stored_type, sizeof t->stored_type, "%s", tr->name);
    if (type == QS_GGML_F32 && ((uintptr_t)data & 3) == 0) t->f32 = (const float *)data;
    return QS_OK;
}

/* Stored row of logical row r (rotate_half order within heads, tensor.h). */
static int64_t stored_row(const qs_tensor *t, int64_t r) {
    int64_t hd = t->perm_head_dim, l = r % hd;
    return r - l + (l % 2) * (hd / 2) + l / 2;
}

static void rows_with(float *y, const qs_tensor *t, int64_t r0, int64_t n, int ref) {
    if (t->f32) {
        memcpy(y, t->f32 + (size_t)r0 * t->cols, (size_t)n * t->cols * sizeof *y);
        return;
    }
    const qs_dtype_traits *tr = qs_dtype_traits_get(t->type);
    qs_rows_fn fn = ref ? tr->rows_ref : tr->rows;
    if (t->perm_head_dim <= 0) {
        fn(y, t->data, r0, n, t->cols, t->pk);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        fn(y + (size_t)i * t->cols, t->data, stored_row(t, r0 + i), 1, t->cols, t->pk);
}

void qs_tensor_rows(float *y, const qs_tensor *t, int64_t r0, int64_t n) {
    rows_with(y, t, r0, n, 0);
}

void qs_tensor_rows_ref(float *y, const qs_tensor *t, int64_t r0, int64_t n) {
    rows_with(y, t, r0, n, 1);
}

int qs_tensor_f32(const qs_tensor *t, const float **view, float **owned) {
    *owned = NULL;
    *view = t->f32;
    if (t->f32) return QS_OK;
    size_t n = (size_t)t->rows * (size_t)t->cols;
    float *p = malloc(n * sizeof *p);
    if (!p)
        return qs_error_set(QS_ERR_NOMEM, "out of memory expanding tensor %s (%zu floats)", t->name,
                            n);
    /* blocks of rows in parallel: each thread expands its own rows */
    int64_t block = t->cols >= 65536 ? 1 : 65536 / t->cols;
    int64_t n_blocks = (t->rows + block - 1) / block;
#pragma omp parallel for schedule(static) if (n_blocks > 1 && n >= 65536)
    for (int64_t b = 0; b < n_blocks; b++) {
        int64_t r0 = b * block, nr = t->rows - r0 < block ? t->rows - r0 : block;
        qs_tensor_rows(p + (size_t)r0 * t->cols, t, r0, nr);
    }
    *owned = p;
    *view = p;
    return QS_OK;
}
