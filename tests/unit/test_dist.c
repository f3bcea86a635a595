/* core/dist in one process, and the store's reader it stands on: shard slices partition
 * the grid; row keys; reading results back (runs, typed attributes, tables with every
 * column type, copying attributes); the runner on a small job of its own: a shard writes
 * its slice with each row's origin, --resume computes only what no earlier run of the
 * file holds, a run of other parameters is not reused, and an item that fails stops the
 * run with its message. Files in a fresh /tmp directory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "dist.h"
#include "dist_int.h"
#include "error.h"
#include "h5read.h"
#include "h5store.h"

static char tmpdir[256];

static void tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

static void test_shards(void) {
    qs_dist_opts o;
    CHECK(qs_dist_shard_parse(&o, "2/8") == QS_OK && o.shard_index == 2 && o.shard_count == 8);
    CHECK(qs_dist_shard_parse(&o, "1/1") == QS_OK);
    const char *bad[] = {"0/2", "3/2", "a/b", "1/", "/2", "1/2x", "", "1/0", "-1/2", "1 /2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(qs_dist_shard_parse(&o, bad[i]) == QS_ERR_ARG, "'%s' accepted", bad[i]);
    /* the slices of N shards partition the items */
    int ok = 1;
    for (int n = 1; n <= 5; n++)
        for (int item = 0; item < 50; item++) {
            int owners = 0;
            for (int i = 1; i <= n; i++) {
                qs_dist_opts s = {i, n, 0, 0};
                owners += qs_dist_in_shard(&s, item);
            }
            ok &= owners == 1;
        }
    CHECK(ok);
    CHECK(qs_dist_in_shard(NULL, 7));
}

static void test_keys(void) {
    static const char *const cols[] = {"name", "layer", "clip_value", NULL};
    qs_field f[4] = {QS_FNUM("mse", 0.5), QS_FSTR("name", "attn_q", 32), QS_FINT("layer", 3),
                     QS_FNUM("clip_value", 99.9)};
    char a[256], b[256];
    qs_dist_row_key(a, sizeof a, f, 4, cols);
    CHECK(strcmp(a, "attn_q\x1f" "3\x1f" "99.900000000000006\x1f") == 0);
    f[0].num = 7; /* a measured value is not part of the key */
    qs_dist_row_key(b, sizeof b, f, 4, cols);
    CHECK(strcmp(a, b) == 0);
    f[3].num = 99.90000000000002;
    qs_dist_row_key(b, sizeof b, f, 4, cols);
    CHECK(strcmp(a, b) != 0);
    /* a string is cut to its column as the table stores it, at a UTF-8 boundary */
    qs_field g[1] = {QS_FSTR("name", "ab\xc3\xa9", 3)};
    static const char *const one[] = {"name", NULL};
    qs_dist_row_key(a, sizeof a, g, 1, one);
    CHECK(strcmp(a, "ab\x1f") == 0);
}

/* merge's message names the parameter that differs, not only the two descriptions */
static void test_json_diff(void) {
    char d[200];
    CHECK(qs__dist_json_diff("{\"a\":{\"t\":64,\"s\":\"x\"}}", "{\"a\":{\"t\":128,\"s\":\"x\"}}",
                             d, sizeof d));
    CHECK(strcmp(d, "a.t: 64 vs 128") == 0);
    CHECK(qs__dist_json_diff("{\"a\":[1,2]}", "{\"a\":[1,3]}", d, sizeof d));
    CHECK(strcmp(d, "a[1]: 2 vs 3") == 0);
    CHECK(qs__dist_json_diff("{\"a\":1}", "{\"a\":1,\"b\":\"y\"}", d, sizeof d));
    CHECK(strcmp(d, "b: (absent) vs \"y\"") == 0);
    CHECK(!qs__dist_json_diff("{\"a\":1,\"b\":2}", "{\"a\":1,\"b\":2}", d, sizeof d));
    /* not JSON (a digest that starts with digits): no difference found, the caller quotes */
    CHECK(!qs__dist_json_diff("18ba82", "23cd", d, sizeof d));
}

static void test_reader(void) {
    char p[512], q[512];
    tmp_path(p, sizeof p, "read.h5");
    qs_h5 *h;
    qs_h5_table *t;
    const qs_h5_col cols[] = {{"n", QS_H5_COL_I64, 0}, {"x", QS_H5_COL_F64, 0},
                              {"s", QS_H5_COL_STR, 8}};
    for (int run = 1; run <= 2; run++) {
        CHECK(qs_h5_open(&h, p, "r") == QS_OK);
        CHECK(qs_h5_attr_str(h, "model", "arch", "llama") == QS_OK);
        CHECK(qs_h5_attr_i64(h, "model", "dim", 64 * run) == QS_OK);
        CHECK(qs_h5_attr_f64(h, "model", "eps", 1e-5) == QS_OK);
        const char *list[] = {"a=1", "b=2"};
        CHECK(qs_h5_attr_strs(h, "provenance", "param_list", list, 2) == QS_OK);
        CHECK(qs_h5_table_open(&t, h, "sweeps/deep/t", cols, 3) == QS_OK);
        for (int i = 0; i < 3 * run; i++) {
            qs_h5_value row[3] = {QS_H5_VI64(-i), QS_H5_VF64(i == 1 ? NAN : i / 3.0),
                                  QS_H5_VSTR(i == 2 ? "\xc3\xa9t\xc3\xa9!" : "")};
            CHECK(qs_h5_table_append(t, row) == QS_OK);
        }
        CHECK(qs_h5_table_close(t) == QS_OK);
        CHECK(qs_h5_close(h) == QS_OK);
    }
    qs_h5_reader *r;
    CHECK(qs_h5_reader_open(&r, p) == QS_OK);
    int *runs, n;
    CHECK(qs_h5_reader_runs(r, &runs, &n) == QS_OK && n == 2 && runs[0] == 1 && runs[1] == 2);
    free(runs);
    char *v = NULL;
    CHECK(qs_h5_reader_attr(r, 2, "model", "dim", &v) == QS_OK && v && strcmp(v, "128") == 0);
    free(v);
    CHECK(qs_h5_reader_attr(r, 1, "model", "arch", &v) == QS_OK && v && strcmp(v, "llama") == 0);
    free(v);
    CHECK(qs_h5_reader_attr(r, 1, "model", "none", &v) == QS_OK && v == NULL);
    CHECK(qs_h5_reader_attr(r, 1, "nowhere/deep", "x", &v) == QS_OK && v == NULL);
    char **paths;
    CHECK(qs_h5_reader_tables(r, 2, &paths, &n) == QS_OK && n == 1 &&
          strcmp(paths[0], "sweeps/deep/t") == 0);
    free(paths);
    qs_h5_rows *rows;
    CHECK(qs_h5_reader_table(r, 2, "sweeps/deep/t", &rows) == QS_OK && rows);
    if (rows) {
        CHECK(rows->nrows == 6 && rows->ncols == 3 && qs_h5_rows_col(rows, "s") == 2);
        CHECK(rows->cols[2].type == QS_H5_COL_STR && rows->cols[2].len == 8);
        CHECK(rows->cells[3 * 5 + 0].u.i == -5 && rows->cells[3 * 4 + 1].u.f == 4 / 3.0);
        CHECK(isnan(rows->cells[3 * 1 + 1].u.f));
        CHECK(strcmp(rows->cells[3 * 2 + 2].u.s, "\xc3\xa9t\xc3\xa9!") == 0);
        CHECK(strcmp(rows->cells[3 * 0 + 2].u.s, "") == 0);
        qs_h5_rows_free(rows);
    }
    CHECK(qs_h5_reader_table(r, 1, "sweeps/none", &rows) == QS_OK && rows == NULL);
    CHECK(qs_h5_reader_table(r, 1, "sweeps/deep", &rows) == QS_ERR_FORMAT && rows == NULL);
    /* attributes copied keep their types */
    tmp_path(q, sizeof q, "copy.h5");
    CHECK(qs_h5_open(&h, q, "c") == QS_OK);
    CHECK(qs_h5_copy_attrs(h, "m", r, 2, "model", NULL) == QS_OK);
    CHECK(qs_h5_copy_attrs(h, "provenance", r, 2, "provenance",
                           (const char *[]){"param_list", NULL}) == QS_OK);
    CHECK(qs_h5_close(h) == QS_OK);
    qs_h5_reader_close(r);
    CHECK(qs_h5_reader_open(&r, q) == QS_OK);
    CHECK(qs_h5_reader_attr(r, 1, "m", "dim", &v) == QS_OK && v && strcmp(v, "128") == 0);
    free(v);
    CHECK(qs_h5_reader_attr(r, 1, "m", "eps", &v) == QS_OK && v && atof(v) == 1e-5);
    free(v);
    qs_h5_reader_close(r);
    /* not results */
    tmp_path(q, sizeof q, "text.h5");
    FILE *f = fopen(q, "w");
    fputs("not hdf5\n", f);
    fclose(f);
    CHECK(qs_h5_reader_open(&r, q) == QS_ERR_FORMAT && r == NULL);
    tmp_path(q, sizeof q, "absent.h5");
    CHECK(qs_h5_reader_open(&r, q) == QS_ERR_IO && r == NULL);
}

/* ---- a job of its own: item i gives the row {i, i * 1.5, "r<i>"} -------------------------- */

typedef struct toy_row {
    long item;
    double v;
    char name[16];
} toy_row;

static const char *const toy_keys[] = {"item", NULL};
static int toy_fail = -1; /* an item that fails (not a row with an error: the run stops) */
static int toy_computed;

static void toy_item_row(const qs_dist_job *j, int item, void *row) {
    (void)j;
    toy_row *r = row;
    r->item = item;
}

static int toy_compute(qs_dist_job *j, int item, qs_dist_emit_fn emit, void *ctx) {
    (void)j;
    if (item == toy_fail) return qs_error_set(QS_ERR_NUMERIC, "item %d cannot be computed", item);
    toy_row r = {item, item * 1.5, ""};
    snprintf(r.name, sizeof r.name, "r%d", item);
    toy_computed++;
    return emit(ctx, &r);
}

static void toy_fields(const qs_dist_job *j, const void *row, qs_field *f) {
    (void)j;
    const toy_row *r = row;
    f[0] = QS_FINT("item", r->item);
    f[1] = QS_FNUM("v", r->v);
    f[2] = QS_FSTR("name", r->name, 16);
}

static const qs_h5_col toy_cols[] = {
    {"item", QS_H5_COL_I64, 0}, {"v", QS_H5_COL_F64, 0}, {"name", QS_H5_COL_STR, 16}};

typedef struct sink_state {
    int rows;
    double sum;
} sink_state;

static int toy_sink(void *user, const void *row) {
    sink_state *s = user;
    s->rows++;
    s->sum += ((const toy_row *)row)->v;
    return QS_OK;
}

/* One run of the toy job into a new run of path. */
static int toy_run(const char *path, const char *params, const char *shard, int resume,
                   qs_dist_report *rep, sink_state *s) {
    qs_dist_job job = {.kind = "toy",
                       .n_items = 30,
                       .row_size = sizeof(toy_row),
                       .compute = toy_compute,
                       .item_row = toy_item_row,
                       .fields = toy_fields,
                       .n_fields = 3,
                       .key_columns = toy_keys,
                       .params = params};
    qs_dist_opts o = {0};
    if (shard) qs_dist_shard_parse(&o, shard);
    o.resume = resume;
    qs_h5 *h;
    qs_h5_table *t;
    int rc = qs_h5_open(&h, path, "toy");
    if (rc) return rc;
    rc = qs_h5_table_open(&t, h, "toys/t", toy_cols, 3);
    qs_dist_out out = {h, t, "toys/t", "m0del", "t3xt", toy_sink, s};
    if (rc == QS_OK) rc = qs_dist_run(&job, &o, &out, rep);
    qs_h5_table_close(t);
    qs_h5_close(h);
    return rc;
}

static void test_runner(void) {
    char p[512];
    tmp_path(p, sizeof p, "toy.h5");
    qs_dist_report rep;
    sink_state s = {0};
    CHECK(toy_run(p, "a=1", "2/3", 0, &rep, &s) == QS_OK);
    CHECK(rep.items_total == 30 && rep.items_mine == 10 && rep.items_done == 10);
    CHECK(s.rows == 10 && rep.rows_written == 10);
    /* resume of the whole grid computes the other 20 */
    toy_computed = 0;
    memset(&s, 0, sizeof s);
    CHECK(toy_run(p, "a=1", NULL, 1, &rep, &s) == QS_OK);
    CHECK(rep.items_skipped == 10 && rep.items_done == 20 && toy_computed == 20);
    /* other parameters: nothing reused */
    toy_computed = 0;
    CHECK(toy_run(p, "a=2", NULL, 1, &rep, &s) == QS_OK);
    CHECK(rep.items_skipped == 0 && toy_computed == 30);
    /* an item that fails stops the run, naming it; the rows before it are written */
    toy_fail = 17;
    memset(&s, 0, sizeof s);
    int rc = toy_run(p, "a=3", NULL, 0, &rep, &s);
    CHECK(rc == QS_ERR_NUMERIC && strstr(qs_error_message(), "item 17 cannot be computed"));
    CHECK(s.rows == 17 && rep.rows_written == 17);
    toy_fail = -1;
    /* what the file holds: runs 1 and 2 together are the grid once; origins and identity */
    qs_h5_reader *r;
    CHECK(qs_h5_reader_open(&r, p) == QS_OK);
    int seen[30] = {0}, ok = 1;
    for (int run = 1; run <= 2; run++) {
        qs_h5_rows *t = NULL, *o = NULL;
        CHECK(qs_h5_reader_table(r, run, "toys/t", &t) == QS_OK && t);
        CHECK(qs_h5_reader_table(r, run, "provenance/rows/toys/t", &o) == QS_OK && o);
        if (!t || !o) continue;
        CHECK(o->nrows == t->nrows && qs_h5_rows_col(o, "rank") == 2);
        for (size_t i = 0; i < t->nrows; i++) {
            long item = (long)t->cells[i * 3].u.i;
            ok &= item >= 0 && item < 30 && t->cells[i * 3 + 1].u.f == item * 1.5;
            if (item >= 0 && item < 30) seen[item]++;
            ok &=
                o->cells[i * o->ncols].u.i == (int64_t)i && o->cells[i * o->ncols + 1].u.i == item;
            ok &= run != 1 || item % 3 == 1; /* shard 2/3 */
        }
        qs_h5_rows_free(t);
        qs_h5_rows_free(o);
    }
    for (int i = 0; i < 30; i++) ok &= seen[i] == 1;
    CHECK(ok);
    char *v = NULL;
    CHECK(qs_h5_reader_attr(r, 1, "toys/t", "dist_shard", &v) == QS_OK && v &&
          strcmp(v, "2/3") == 0);
    free(v);
    CHECK(qs_h5_reader_attr(r, 2, "toys/t", "dist_key_columns", &v) == QS_OK && v &&
          strcmp(v, "item") == 0);
    free(v);
    qs_h5_reader_close(r);
    /* --resume without a file to resume is refused */
    qs_dist_job job = {.kind = "toy", .n_items = 3, .row_size = sizeof(toy_row),
                       .compute = toy_compute, .item_row = toy_item_row, .fields = toy_fields,
                       .n_fields = 3, .key_columns = toy_keys, .params = ""};
    qs_dist_opts o = {0, 0, 1, 0};
    CHECK(qs_dist_run(&job, &o, NULL, NULL) == QS_ERR_ARG);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qs_test_dist_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    test_shards();
    test_keys();
    test_json_diff();
    test_reader();
    test_runner();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary("test_dist");
}
