/* Tests of the HDF5 result store and the sha256 helper.
 *
 *   test_h5store                        all checks (files in a fresh /tmp directory)
 *   test_h5store --write PATH           writes the sample file that tests/ref/test_h5store_h5py.py
 *                                       reads with h5py (two runs)
 *   test_h5store --append-and-kill PATH appends 50 table rows and 24 dump rows, then SIGKILLs
 *                                       itself without closing
 *   test_h5store --append-until-fail PATH
 *                                       opens PATH, appends table rows under a small
 *                                       RLIMIT_FSIZE until a write fails; prints "appended K"
 *                                       on stdout, the error on stderr, exits 3 on the expected
 *                                       failure (0 = never failed, 1 = other error);
 *                                       with ROOM (bytes) the limit is that far above the
 *                                       file and the store's size check is off, so the
 *                                       write fails inside HDF5
 *
 * Everything written is read back through the plain HDF5 C API, not through h5store. */
#include "check.h"
#include "error.h"
#include "h5read.h"
#include "h5store.h"
#include "provenance.h"
#include "h5store_int.h" /* qs__h5_room_check, to reach the failure path inside HDF5 */
#include "sha256.h"

#include <hdf5.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];

static void tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

static int write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

/* Reads a whole file (malloc'd) for byte-for-byte comparisons. */
static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
    *n = b ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

static int same_file(const char *path, const unsigned char *before, size_t n,
                     const struct stat *st0) {
    size_t m;
    unsigned char *now = read_all(path, &m);
    struct stat st;
    int same = now && m == n && memcmp(now, before, n) == 0 && stat(path, &st) == 0 &&
               st.st_mtim.tv_sec == st0->st_mtim.tv_sec &&
               st.st_mtim.tv_nsec == st0->st_mtim.tv_nsec;
    free(now);
    return same;
}

/* ---- reading back with the plain HDF5 API -------------------------------------------- */

static int read_attr_str(hid_t f, const char *obj, const char *name, char *out, size_t n) {
    out[0] = '\0';
    hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    char *s = NULL;
    int rc = H5Aread(a, t, &s) < 0 ? -1 : 0;
    if (rc == 0 && s) snprintf(out, n, "%s", s);
    if (s) H5free_memory(s);
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

static int read_attr_i64(hid_t f, const char *obj, const char *name, int64_t *v) {
    hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return -1;
    int rc = H5Aread(a, H5T_NATIVE_INT64, v) < 0 ? -1 : 0;
    H5Aclose(a);
    return rc;
}

/* Reads attribute of up to cap doubles; returns the element count or -1. */
static long read_attr_f64s(hid_t f, const char *obj, const char *name, double *v, size_t cap) {
    hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t s = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    long rc = n >= 0 && (size_t)n <= cap && H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0 ? (long)n : -1;
    H5Sclose(s);
    H5Aclose(a);
    return rc;
}

/* Reads a dataset as doubles (any numeric type); dims receives the shape. Returns rank. */
static int read_ds(hid_t f, const char *path, double *out, size_t cap, hsize_t dims[4]) {
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t s = H5Dget_space(d);
    int rank = H5Sget_simple_extent_ndims(s);
    H5Sget_simple_extent_dims(s, dims, NULL);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    if (n < 0 || (size_t)n > cap ||
        (n && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0))
        rank = -1;
    H5Sclose(s);
    H5Dclose(d);
    return rank;
}

static int msg_has(const char *needle) { return strstr(qs_error_message(), needle) != NULL; }

/* ---- sha256 --------------------------------------------------------------------------- */

static void test_sha256(void) {
    char hex[65];
    /* FIPS 180-2 examples */
    qs_sha256_mem("abc", 3, hex);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    qs_sha256_mem(NULL, 0, hex);
    CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    qs_sha256_mem(two, strlen(two), hex);
    CHECK(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
    /* a million 'a' through a file: crosses the 16 KiB read buffer many times */
    char p[300];
    tmp_path(p, sizeof p, "million_a");
    char *m = malloc(1000000);
    memset(m, 'a', 1000000);
    CHECK(write_bytes(p, m, 1000000) == 0);
    free(m);
    CHECK(qs_sha256_file(p, hex) == QS_OK);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);

    /* shipped files against the SHA256SUMS list written by sha256sum */
    FILE *sums = fopen("tests/fixtures/SHA256SUMS", "r");
    CHECK(sums != NULL);
    int checked = 0;
    char line[1024];
    while (sums && checked < 4 && fgets(line, sizeof line, sums)) {
        char want[65], name[900], fp[1000];
        if (sscanf(line, "%64s %899s", want, name) != 2) continue;
        snprintf(fp, sizeof fp, "tests/fixtures/%s", name);
        CHECK_MSG(qs_sha256_file(fp, hex) == QS_OK && strcmp(hex, want) == 0, "%s: %s vs %s", fp,
                  hex, want);
        checked++;
    }
    if (sums) fclose(sums);
    CHECK(checked == 4);
    /* and one against sha256sum run now */
    FILE *ps = popen("sha256sum data/models/tok512.bin", "r");
    char want[65] = "";
    CHECK(ps && fscanf(ps, "%64s", want) == 1);
    if (ps) pclose(ps);
    CHECK(qs_sha256_file("data/models/tok512.bin", hex) == QS_OK);
    CHECK_MSG(strcmp(hex, want) == 0, "%s vs %s", hex, want);

    CHECK(qs_sha256_file("no/such/file.bin", hex) == QS_ERR_IO);
    CHECK(msg_has("no/such/file.bin") && hex[0] == '\0');
    CHECK(qs_sha256_file("data", hex) == QS_ERR_IO);
    CHECK(msg_has("directory"));
}

/* ---- open: create, append runs, refusals ---------------------------------------------- */

static void test_open_runs(void) {
    char p[300];
    tmp_path(p, sizeof p, "runs.h5");
    qs_h5 *h = NULL;
    CHECK(qs_h5_open(&h, p, "first") == QS_OK);
    CHECK(h && qs_h5_run(h) == 1);
    CHECK(h && strcmp(qs_h5_path(h), p) == 0);
    CHECK(qs_h5_close(h) == QS_OK);
    CHECK(qs_h5_open(&h, p, "second") == QS_OK);
    CHECK(h && qs_h5_run(h) == 2);
    CHECK(qs_h5_attr_i64(h, "", "marker", 2) == QS_OK);
    CHECK(qs_h5_close(h) == QS_OK);
    CHECK(qs_h5_open(&h, p, NULL) == QS_OK);
    CHECK(h && qs_h5_run(h) == 3);
    CHECK(qs_h5_close(h) == QS_OK);

    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    int64_t latest = 0, marker = 0;
    CHECK(read_attr_i64(f, "/runs", "latest", &latest) == 0 && latest == 3);
    CHECK(read_attr_i64(f, "/runs/2", "marker", &marker) == 0 && marker == 2);
    char s[128];
    CHECK(read_attr_str(f, "/runs/1", "run_label", s, sizeof s) == 0 && strcmp(s, "first") == 0);
    CHECK(read_attr_str(f, "/runs/2", "run_label", s, sizeof s) == 0 && strcmp(s, "second") == 0);
    CHECK(read_attr_str(f, "/runs/3", "run_label", s, sizeof s) == 0 && strcmp(s, "") == 0);
    /* start/end times are ISO-8601 UTC */
    CHECK(read_attr_str(f, "/runs/1/provenance", "start_time", s, sizeof s) == 0);
    CHECK_MSG(strlen(s) == 20 && s[4] == '-' && s[10] == 'T' && s[19] == 'Z', "'%s'", s);
    CHECK(read_attr_str(f, "/runs/1/provenance", "end_time", s, sizeof s) == 0 && strlen(s) == 20);
    CHECK(read_attr_str(f, "/runs/1/provenance", "hdf5_version", s, sizeof s) == 0);
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    char v[32];
    snprintf(v, sizeof v, "%u.%u.%u", maj, min, rel);
    CHECK(strcmp(s, v) == 0);
    CHECK(read_attr_str(f, "/runs/3/provenance", "git_rev", s, sizeof s) == 0 && strlen(s) > 0);
    CHECK(read_attr_str(f, "/runs/3/provenance", "lua_version", s, sizeof s) == 0 &&
          strncmp(s, "Lua 5.4", 7) == 0);
    CHECK(read_attr_str(f, "/runs/3/provenance", "openblas_config", s, sizeof s) == 0 &&
          strstr(s, "OpenBLAS") != NULL);
    CHECK(H5Lexists(f, "/runs/4", H5P_DEFAULT) == 0);
    H5Fclose(f);

    /* an HDF5 file made by someone else gets /runs added, its data untouched */
    tmp_path(p, sizeof p, "foreign.h5");
    f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d1[1] = {3};
    double vals[3] = {1.5, 2.5, 3.5};
    hid_t sp = H5Screate_simple(1, d1, NULL);
    hid_t ds = H5Dcreate2(f, "/theirs", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, vals);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(f);
    CHECK(qs_h5_open(&h, p, "x") == QS_OK && qs_h5_run(h) == 1);
    CHECK(qs_h5_close(h) == QS_OK);
    double back[3];
    hsize_t dims[4];
    f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(read_ds(f, "/theirs", back, 3, dims) == 1 && back[0] == 1.5 && back[2] == 3.5);
    CHECK(H5Lexists(f, "/runs/1", H5P_DEFAULT) > 0);
    H5Fclose(f);
}

/* Opening must fail with code and a message containing needle, leaving the file as it was. */
static void check_refused(const char *path, int code, const char *needle) {
    size_t n = 0;
    unsigned char *before = read_all(path, &n);
    struct stat st0;
    CHECK(before && stat(path, &st0) == 0);
    qs_h5 *h = (qs_h5 *)1;
    int rc = qs_h5_open(&h, path, "should-fail");
    CHECK_MSG(rc == code, "%s: rc %d, want %d (%s)", path, rc, code, qs_error_message());
    CHECK(h == NULL);
    CHECK_MSG(msg_has(needle) && msg_has(path), "message '%s' lacks '%s'", qs_error_message(),
              needle);
    CHECK_MSG(before && same_file(path, before, n, &st0), "%s changed", path);
    free(before);
}

static void test_refusals(void) {
    char p[300];
    tmp_path(p, sizeof p, "notes.txt");
    CHECK(write_bytes(p, "hello, these are my notes\n", 26) == 0);
    check_refused(p, QS_ERR_FORMAT, "not an HDF5 file");

    tmp_path(p, sizeof p, "empty.h5");
    CHECK(write_bytes(p, "", 0) == 0);
    check_refused(p, QS_ERR_FORMAT, "not an HDF5 file");

    /* the HDF5 signature followed by garbage */
    tmp_path(p, sizeof p, "garbage.h5");
    unsigned char g[4096];
    memcpy(g, "\x89HDF\r\n\x1a\n", 8);
    for (size_t i = 8; i < sizeof g; i++) g[i] = (unsigned char)(i * 131 + 7);
    CHECK(write_bytes(p, g, sizeof g) == 0);
    check_refused(p, QS_ERR_FORMAT, "corrupt");

    /* a valid results file cut in half */
    char good[300];
    tmp_path(good, sizeof good, "to_truncate.h5");
    qs_h5 *h = NULL;
    CHECK(qs_h5_open(&h, good, "t") == QS_OK);
    double m[64];
    for (int i = 0; i < 64; i++) m[i] = i;
    CHECK(qs_h5_matrix_write(h, "stats/x/absmax", QS_H5_F64, m, 8, 8) == QS_OK);
    CHECK(qs_h5_close(h) == QS_OK);
    size_t n;
    unsigned char *whole = read_all(good, &n);
    tmp_path(p, sizeof p, "truncated.h5");
    CHECK(whole && write_bytes(p, whole, n / 2) == 0);
    free(whole);
    check_refused(p, QS_ERR_FORMAT, "corrupt");

    /* an HDF5 file whose /runs is a dataset is not ours to append to */
    tmp_path(p, sizeof p, "runs_dataset.h5");
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d1[1] = {2};
    int64_t iv[2] = {1, 2};
    hid_t sp = H5Screate_simple(1, d1, NULL);
    hid_t ds = H5Dcreate2(f, "/runs", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, iv);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(f);
    check_refused(p, QS_ERR_FORMAT, "not a group");

    /* read-only (also when running as root) */
    tmp_path(p, sizeof p, "readonly.h5");
    CHECK(qs_h5_open(&h, p, "ro") == QS_OK);
    CHECK(qs_h5_close(h) == QS_OK);
    CHECK(chmod(p, 0444) == 0);
    check_refused(p, QS_ERR_IO, "read-only");
    chmod(p, 0644);

    /* missing directory: named in the message, nothing created */
    tmp_path(p, sizeof p, "no_such_dir/sub/out.h5");
    h = (qs_h5 *)1;
    CHECK(qs_h5_open(&h, p, "x") == QS_ERR_IO && h == NULL);
    char dir[300];
    tmp_path(dir, sizeof dir, "no_such_dir/sub");
    CHECK_MSG(msg_has(dir) && msg_has("does not exist"), "%s", qs_error_message());
    CHECK(access(p, F_OK) != 0);

    /* a directory in place of the file */
    CHECK(qs_h5_open(&h, tmpdir, "x") == QS_ERR_ARG && h == NULL);
    CHECK(msg_has("directory"));
    CHECK(qs_h5_open(&h, "", "x") == QS_ERR_ARG);
    CHECK(qs_h5_open(NULL, tmpdir, "x") == QS_ERR_ARG);
}

/* ---- groups, attributes, datasets ----------------------------------------------------- */

static void test_groups_attrs_arrays(void) {
    char p[300];
    tmp_path(p, sizeof p, "data.h5");
    qs_h5 *h = NULL;
    CHECK(qs_h5_open(&h, p, "data") == QS_OK);
    if (!h) return;
    long base = qs_h5_open_objects(h);
    CHECK(base >= 1);

    CHECK(qs_h5_group(h, "stats/attn_in") == QS_OK);
    CHECK(qs_h5_group(h, "stats/attn_in") == QS_OK); /* existing group is fine */
    CHECK(qs_h5_exists(h, "stats") == 1 && qs_h5_exists(h, "/stats/attn_in") == 1);
    CHECK(qs_h5_exists(h, "stats/ffn_in") == 0);
    const char *bad[] = {"", "/", "a//b", "../x", "a/./b", "a/", "a/.."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(qs_h5_group(h, bad[i]) == QS_ERR_ARG, "path '%s'", bad[i]);

    /* attributes of every kind; a missing object becomes a group */
    CHECK(qs_h5_attr_str(h, "model", "arch", "llama") == QS_OK);
    CHECK(qs_h5_attr_str(h, "model", "name", "stories260K \xc3\xa9") == QS_OK);
    CHECK(qs_h5_attr_i64(h, "model", "dim", 64) == QS_OK);
    CHECK(qs_h5_attr_i64(h, "model", "big", INT64_MIN) == QS_OK);
    CHECK(qs_h5_attr_f64(h, "model", "norm_eps", 1e-5) == QS_OK);
    double fr[3] = {1.0, 0.5, -0.25};
    CHECK(qs_h5_attr_f64s(h, "model", "freqs", fr, 3) == QS_OK);
    CHECK(qs_h5_attr_f64s(h, "model", "none", NULL, 0) == QS_OK);
    const char *sl[] = {"bits=4", "group=128", NULL};
    CHECK(qs_h5_attr_strs(h, "model", "list", sl, 3) == QS_OK);
    CHECK(qs_h5_attr_i64(h, "model", "dim", 65) == QS_OK); /* replaced within this run */
    CHECK(qs_h5_attr_str(h, "model", "", "x") == QS_ERR_ARG);

    /* matrices and vectors */
    double m[3 * 4]; /* (3, 4) */
    float mf[3 * 4];
    for (int i = 0; i < 12; i++) m[i] = 100.0 * (i / 4) + (i % 4) + 0.5, mf[i] = (float)(i * 0.25);
    CHECK(qs_h5_matrix_write(h, "stats/attn_in/absmax", QS_H5_F64, m, 3, 4) == QS_OK);
    CHECK(qs_h5_matrix_write(h, "stats/attn_in/mean", QS_H5_F32, mf, 3, 4) == QS_OK);
    int64_t cnt[5] = {0, 7, -3, INT64_MAX, 9};
    CHECK(qs_h5_vector_write(h, "stats/attn_in/hist/counts", QS_H5_I64, cnt, 5) == QS_OK);
    int32_t i32[2] = {-5, 5};
    CHECK(qs_h5_vector_write(h, "weights/i32", QS_H5_I32, i32, 2) == QS_OK);
    CHECK(qs_h5_matrix_write(h, "weights/empty", QS_H5_F32, NULL, 0, 4) == QS_OK);
    size_t d3[3] = {2, 2, 3};
    double cube[12];
    for (int i = 0; i < 12; i++) cube[i] = -i;
    CHECK(qs_h5_array_write(h, "weights/cube", QS_H5_F64, cube, 3, d3) == QS_OK);
    /* never overwrite: the old data stays */
    double other[12] = {0};
    CHECK(qs_h5_matrix_write(h, "stats/attn_in/absmax", QS_H5_F64, other, 3, 4) == QS_ERR_ARG);
    CHECK(msg_has("already exists") && msg_has("/runs/1/stats/attn_in/absmax"));
    CHECK(qs_h5_matrix_write(h, "stats/attn_in", QS_H5_F64, other, 3, 4) == QS_ERR_ARG);
    /* a dataset cannot hold children */
    CHECK(qs_h5_group(h, "stats/attn_in/absmax/sub") == QS_ERR_ARG);
    CHECK(qs_h5_vector_write(h, "stats/attn_in/absmax/x", QS_H5_F64, other, 2) == QS_ERR_ARG);
    CHECK(qs_h5_vector_write(h, "v", (qs_h5_dtype)99, other, 2) == QS_ERR_ARG);
    CHECK(qs_h5_vector_write(h, "v", QS_H5_F64, NULL, 2) == QS_ERR_ARG);
    CHECK(qs_h5_array_write(h, "v", QS_H5_F64, other, 0, d3) == QS_ERR_ARG);
    CHECK(qs_h5_exists(h, "v") == 0);
    /* attributes on a dataset */
    CHECK(qs_h5_attr_str(h, "stats/attn_in/absmax", "units", "abs") == QS_OK);

    CHECK_MSG(qs_h5_open_objects(h) == base, "%ld open objects, baseline %ld",
              qs_h5_open_objects(h), base);
    CHECK(qs_h5_close(h) == QS_OK);
    CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);

    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    char s[128];
    int64_t iv;
    CHECK(read_attr_str(f, "/runs/1/model", "arch", s, sizeof s) == 0 && strcmp(s, "llama") == 0);
    CHECK(read_attr_str(f, "/runs/1/model", "name", s, sizeof s) == 0 &&
          strcmp(s, "stories260K \xc3\xa9") == 0);
    CHECK(read_attr_i64(f, "/runs/1/model", "dim", &iv) == 0 && iv == 65);
    CHECK(read_attr_i64(f, "/runs/1/model", "big", &iv) == 0 && iv == INT64_MIN);
    double dv[4];
    CHECK(read_attr_f64s(f, "/runs/1/model", "norm_eps", dv, 4) == 1 && dv[0] == 1e-5);
    CHECK(read_attr_f64s(f, "/runs/1/model", "freqs", dv, 4) == 3 && dv[1] == 0.5 &&
          dv[2] == -0.25);
    CHECK(read_attr_f64s(f, "/runs/1/model", "none", dv, 4) == 0);
    CHECK(read_attr_str(f, "/runs/1/stats/attn_in/absmax", "units", s, sizeof s) == 0 &&
          strcmp(s, "abs") == 0);
    double back[16];
    hsize_t dims[4];
    CHECK(read_ds(f, "/runs/1/stats/attn_in/absmax", back, 16, dims) == 2 && dims[0] == 3 &&
          dims[1] == 4);
    int ok = 1;
    for (int i = 0; i < 12; i++) ok &= back[i] == 100.0 * (i / 4) + (i % 4) + 0.5;
    CHECK(ok);
    CHECK(read_ds(f, "/runs/1/stats/attn_in/mean", back, 16, dims) == 2 && back[5] == 1.25);
    hid_t d = H5Dopen2(f, "/runs/1/stats/attn_in/mean", H5P_DEFAULT);
    hid_t t = H5Dget_type(d);
    CHECK(H5Tget_class(t) == H5T_FLOAT && H5Tget_size(t) == 4);
    H5Tclose(t);
    H5Dclose(d);
    int64_t cback[5];
    d = H5Dopen2(f, "/runs/1/stats/attn_in/hist/counts", H5P_DEFAULT);
    CHECK(d >= 0 && H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, cback) >= 0);
    CHECK(memcmp(cback, cnt, sizeof cnt) == 0);
    H5Dclose(d);
    CHECK(read_ds(f, "/runs/1/weights/empty", back, 16, dims) == 2 && dims[0] == 0 && dims[1] == 4);
    CHECK(read_ds(f, "/runs/1/weights/cube", back, 16, dims) == 3 && dims[2] == 3 &&
          back[11] == -11);
    CHECK(read_ds(f, "/runs/1/weights/i32", back, 16, dims) == 1 && back[0] == -5);
    H5Fclose(f);
}

/* ---- dumps ---------------------------------------------------------------------------- */

static void test_dump(void) {
    char p[300];
    tmp_path(p, sizeof p, "dump.h5");
    qs_h5 *h = NULL;
    CHECK(qs_h5_open(&h, p, "dump") == QS_OK);
    if (!h) return;
    long base = qs_h5_open_objects(h);
    enum { C = 5 };
    float rows[12 * C]; /* (12, C) */
    for (int i = 0; i < 12 * C; i++) rows[i] = (float)(i / C) * 10.0f + (float)(i % C) * 0.5f;
    qs_h5_dump *d = NULL;
    CHECK(qs_h5_dump_open(&d, h, "dump/attn_in/0", C, 4, 6) == QS_OK);
    CHECK(qs_h5_dump_append(d, rows, 3) == QS_OK);
    CHECK(qs_h5_dump_append(d, rows + 3 * C, 7) == QS_OK);
    CHECK(qs_h5_dump_append(d, rows, 0) == QS_OK);
    CHECK(qs_h5_dump_rows(d) == 10);
    CHECK(qs_h5_dump_close(d) == QS_OK);
    /* reopened in the same run it continues */
    CHECK(qs_h5_dump_open(&d, h, "dump/attn_in/0", C, 0, 6) == QS_OK);
    CHECK(qs_h5_dump_rows(d) == 10);
    CHECK(qs_h5_dump_append(d, rows + 10 * C, 2) == QS_OK);
    CHECK(qs_h5_dump_close(d) == QS_OK);
    qs_h5_dump *bad = (qs_h5_dump *)1;
    CHECK(qs_h5_dump_open(&bad, h, "dump/attn_in/0", C + 1, 0, 6) == QS_ERR_FORMAT && !bad);
    CHECK(qs_h5_dump_open(&bad, h, "dump/attn_in", C, 0, 6) == QS_ERR_ARG);
    CHECK(qs_h5_dump_open(&bad, h, "dump/x", 0, 0, 6) == QS_ERR_ARG);
    CHECK(qs_h5_dump_open(&bad, h, "dump/x", C, 0, 10) == QS_ERR_ARG);
    CHECK(qs_h5_dump_open(&bad, h, "dump/x", 1u << 20, 1u << 20, 1) == QS_ERR_ARG);
    /* uncompressed dump */
    CHECK(qs_h5_dump_open(&d, h, "dump/raw", 3, 2, 0) == QS_OK);
    CHECK(qs_h5_dump_append(d, rows, 5) == QS_OK);
    CHECK(qs_h5_dump_close(d) == QS_OK);
    CHECK(qs_h5_open_objects(h) == base);
    CHECK(qs_h5_close(h) == QS_OK);

    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    double back[12 * C];
    hsize_t dims[4];
    CHECK(read_ds(f, "/runs/1/dump/attn_in/0", back, 12 * C, dims) == 2 && dims[0] == 12 &&
          dims[1] == C);
    int ok = 1;
    for (int i = 0; i < 10 * C; i++) ok &= back[i] == rows[i];
    for (int i = 0; i < 2 * C; i++) ok &= back[10 * C + i] == rows[10 * C + i];
    CHECK(ok);
    hid_t ds = H5Dopen2(f, "/runs/1/dump/attn_in/0", H5P_DEFAULT);
    hid_t dcpl = H5Dget_create_plist(ds);
    hsize_t chunk[2] = {0, 0};
    CHECK(H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 2, chunk) == 2 &&
          chunk[0] == 4 && chunk[1] == C);
    int nf = H5Pget_nfilters(dcpl), has_deflate = 0, has_shuffle = 0;
    for (int i = 0; i < nf; i++) {
        unsigned flags, cd[4];
        size_t ncd = 4;
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, 0, NULL, NULL);
        has_deflate |= id == H5Z_FILTER_DEFLATE && ncd >= 1 && cd[0] == 6;
        has_shuffle |= id == H5Z_FILTER_SHUFFLE;
    }
    CHECK(has_deflate && has_shuffle);
    H5Pclose(dcpl);
    H5Dclose(ds);
    CHECK(read_ds(f, "/runs/1/dump/raw", back, 12 * C, dims) == 2 && dims[0] == 5 && dims[1] == 3 &&
          back[14] == rows[14]);
    H5Fclose(f);
}

/* ---- tables --------------------------------------------------------------------------- */

static const qs_h5_col tcols[] = {
    {"layer", QS_H5_COL_I64, 0},
    {"site", QS_H5_COL_STR, 12},
    {"value", QS_H5_COL_F64, 0},
    {"text", QS_H5_COL_STR, 4},
};

typedef struct { /* packed like the table rows, for reading back */
    int64_t layer;
    char site[12];
    double value;
    char text[4];
} __attribute__((packed)) trow;

static hid_t trow_type(void) {
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(trow));
    hid_t s12 = H5Tcopy(H5T_C_S1), s4 = H5Tcopy(H5T_C_S1);
    H5Tset_size(s12, 12);
    H5Tset_strpad(s12, H5T_STR_NULLPAD);
    H5Tset_cset(s12, H5T_CSET_UTF8); /* HDF5 does not convert between character sets */
    H5Tset_size(s4, 4);
    H5Tset_strpad(s4, H5T_STR_NULLPAD);
    H5Tset_cset(s4, H5T_CSET_UTF8);
    H5Tinsert(t, "layer", offsetof(trow, layer), H5T_NATIVE_INT64);
    H5Tinsert(t, "site", offsetof(trow, site), s12);
    H5Tinsert(t, "value", offsetof(trow, value), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "text", offsetof(trow, text), s4);
    H5Tclose(s12);
    H5Tclose(s4);
    return t;
}

/* Reads all rows of a table into a malloc'd array; *n receives the count. */
static trow *read_table(hid_t f, const char *path, size_t *n) {
    *n = 0;
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) return NULL;
    hid_t s = H5Dget_space(d);
    hsize_t dims[1];
    H5Sget_simple_extent_dims(s, dims, NULL);
    trow *r = calloc(dims[0] ? dims[0] : 1, sizeof *r);
    hid_t t = trow_type();
    if (dims[0] && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, r) < 0) {
        free(r);
        r = NULL;
    } else
        *n = dims[0];
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
    return r;
}

static void test_utf8_prefix(void) {
    const char *s = "a\xc3\xa9\xe2\x82\xac"; /* a é €  (1 + 2 + 3 bytes) */
    CHECK(qs_h5_utf8_prefix(s, 6, 6) == 6);
    CHECK(qs_h5_utf8_prefix(s, 6, 5) == 3); /* inside € */
    CHECK(qs_h5_utf8_prefix(s, 6, 4) == 3);
    CHECK(qs_h5_utf8_prefix(s, 6, 3) == 3);
    CHECK(qs_h5_utf8_prefix(s, 6, 2) == 1); /* inside é */
    CHECK(qs_h5_utf8_prefix(s, 6, 1) == 1);
    CHECK(qs_h5_utf8_prefix(s, 6, 0) == 0);
    const char *emoji = "\xf0\x9f\x98\x80x"; /* U+1F600 then x */
    CHECK(qs_h5_utf8_prefix(emoji, 5, 3) == 0);
    CHECK(qs_h5_utf8_prefix(emoji, 5, 4) == 4);
    const char *junk = "ab\x80\x80\x80\x80\x80"; /* not UTF-8: byte cut */
    CHECK(qs_h5_utf8_prefix(junk, 7, 6) == 6);
}

static void test_table(void) {
    char p[300];
    tmp_path(p, sizeof p, "table.h5");
    qs_h5 *h = NULL;
    CHECK(qs_h5_open(&h, p, "table") == QS_OK);
    if (!h) return;
    long base = qs_h5_open_objects(h);
    qs_h5_table *t = NULL;
    CHECK(qs_h5_table_open(&t, h, "outliers/channels", tcols, 4) == QS_OK);
    if (!t) return;
    CHECK(qs_h5_table_col(t, "value") == 2 && qs_h5_table_col(t, "nope") == -1);
    qs_h5_value r0[4] = {QS_H5_VI64(0), QS_H5_VSTR("attn_in"), QS_H5_VF64(1.5), QS_H5_VSTR("ab")};
    CHECK(qs_h5_table_append(t, r0) == QS_OK);
    /* long strings: "ffn_down_in_x" (13) cut to 12; "a" "é" "€" cut before the euro sign */
    qs_h5_value r1[4] = {QS_H5_VI64(-7), QS_H5_VSTR("ffn_down_in_x"), QS_H5_VI64(3),
                         QS_H5_VSTR("a\xc3\xa9\xe2\x82\xac")};
    CHECK(qs_h5_table_append(t, r1) == QS_OK);
    CHECK(qs_h5_table_truncated(t) == 2);
    /* mismatches append nothing */
    qs_h5_value bad1[4] = {QS_H5_VF64(2.5), QS_H5_VSTR("x"), QS_H5_VF64(0), QS_H5_VSTR("")};
    CHECK(qs_h5_table_append(t, bad1) == QS_ERR_ARG && msg_has("layer"));
    qs_h5_value bad2[4] = {QS_H5_VI64(1), QS_H5_VF64(1), QS_H5_VF64(0), QS_H5_VSTR("")};
    CHECK(qs_h5_table_append(t, bad2) == QS_ERR_ARG && msg_has("site"));
    qs_h5_value bad3[4] = {QS_H5_VF64(1e300), QS_H5_VSTR("x"), QS_H5_VF64(0), QS_H5_VSTR("")};
    CHECK(qs_h5_table_append(t, bad3) == QS_ERR_ARG);
    CHECK(qs_h5_table_rows(t) == 2);
    qs_h5_value r2[4] = {QS_H5_VF64(4.0), QS_H5_VSTR(NULL), QS_H5_VF64(-0.0), QS_H5_VSTR("xyzw")};
    CHECK(qs_h5_table_append(t, r2) == QS_OK);
    /* by name; value left unset is NaN */
    CHECK(qs_h5_table_set_str(t, "site", "resid") == QS_OK);
    CHECK(qs_h5_table_set_i64(t, "layer", 5) == QS_OK);
    CHECK(qs_h5_table_set_i64(t, "nope", 5) == QS_ERR_ARG && msg_has("nope"));
    CHECK(qs_h5_table_set_str(t, "layer", "5") == QS_ERR_ARG);
    CHECK(qs_h5_table_commit(t) == QS_OK);
    CHECK(qs_h5_table_set_f64(t, "value", 9.25) == QS_OK);
    CHECK(qs_h5_table_commit(t) == QS_OK);
    CHECK(qs_h5_table_rows(t) == 5);
    CHECK(qs_h5_table_close(t) == QS_OK);

    /* reopen in the same run: same schema continues, another one is refused */
    CHECK(qs_h5_table_open(&t, h, "outliers/channels", tcols, 4) == QS_OK);
    CHECK(qs_h5_table_rows(t) == 5);
    qs_h5_value r5[4] = {QS_H5_VI64(6), QS_H5_VSTR("ffn_in"), QS_H5_VF64(6.5), QS_H5_VSTR("z")};
    CHECK(qs_h5_table_append(t, r5) == QS_OK);
    qs_h5_table *t2 = (qs_h5_table *)1;
    CHECK(qs_h5_table_open(&t2, h, "outliers/channels", tcols, 3) == QS_ERR_FORMAT && !t2);
    qs_h5_col other[4] = {tcols[0], tcols[1], tcols[2], {"text", QS_H5_COL_STR, 5}};
    CHECK(qs_h5_table_open(&t2, h, "outliers/channels", other, 4) == QS_ERR_FORMAT);
    CHECK(msg_has("text"));
    qs_h5_col dup[2] = {{"a", QS_H5_COL_I64, 0}, {"a", QS_H5_COL_F64, 0}};
    CHECK(qs_h5_table_open(&t2, h, "x", dup, 2) == QS_ERR_ARG && msg_has("duplicate"));
    qs_h5_col zero[1] = {{"s", QS_H5_COL_STR, 0}};
    CHECK(qs_h5_table_open(&t2, h, "x", zero, 1) == QS_ERR_ARG);
    CHECK(qs_h5_table_open(&t2, h, "x", tcols, 0) == QS_ERR_ARG);
    CHECK(qs_h5_table_open(&t2, h, "outliers", tcols, 4) == QS_ERR_ARG);
    CHECK(qs_h5_table_close(t) == QS_OK);
    CHECK_MSG(qs_h5_open_objects(h) == base, "%ld vs %ld", qs_h5_open_objects(h), base);

    /* a table left open when the file closes is detached, then freed by its own close */
    CHECK(qs_h5_table_open(&t, h, "sweeps/left_open", tcols, 4) == QS_OK);
    CHECK(qs_h5_close(h) == QS_OK);
    CHECK(qs_h5_table_append(t, r0) == QS_ERR_ARG && msg_has("after its file was closed"));
    CHECK(qs_h5_table_rows(t) == 0);
    CHECK(qs_h5_table_close(t) == QS_OK);
    CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);

    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    size_t n;
    trow *r = read_table(f, "/runs/1/outliers/channels", &n);
    CHECK(r && n == 6);
    if (r && n == 6) {
        CHECK(r[0].layer == 0 && memcmp(r[0].site, "attn_in\0\0\0\0\0", 12) == 0 &&
              r[0].value == 1.5 && memcmp(r[0].text, "ab\0\0", 4) == 0);
        CHECK(r[1].layer == -7 && memcmp(r[1].site, "ffn_down_in_", 12) == 0 && r[1].value == 3.0);
        CHECK(memcmp(r[1].text, "a\xc3\xa9\0", 4) == 0);
        CHECK(r[2].layer == 4 && r[2].site[0] == 0 && r[2].value == 0.0 && signbit(r[2].value) &&
              memcmp(r[2].text, "xyzw", 4) == 0);
        CHECK(r[3].layer == 5 && strncmp(r[3].site, "resid", 12) == 0 && isnan(r[3].value) &&
              r[3].text[0] == 0);
        CHECK(r[4].layer == 0 && r[4].site[0] == 0 && r[4].value == 9.25);
        CHECK(r[5].layer == 6 && r[5].value == 6.5);
    }
    free(r);
    /* the stored type: packed, little-endian, NUL-padded UTF-8 strings */
    hid_t d = H5Dopen2(f, "/runs/1/outliers/channels", H5P_DEFAULT);
    hid_t ft = H5Dget_type(d);
    CHECK(H5Tget_size(ft) == 8 + 12 + 8 + 4 && H5Tget_nmembers(ft) == 4);
    hid_t m1 = H5Tget_member_type(ft, 1);
    CHECK(H5Tget_strpad(m1) == H5T_STR_NULLPAD && H5Tget_cset(m1) == H5T_CSET_UTF8);
    H5Tclose(m1);
    hid_t m0 = H5Tget_member_type(ft, 0);
    CHECK(H5Tequal(m0, H5T_STD_I64LE) > 0);
    H5Tclose(m0);
    H5Tclose(ft);
    H5Dclose(d);
    trow *lo = read_table(f, "/runs/1/sweeps/left_open", &n);
    CHECK(n == 0);
    free(lo);
    H5Fclose(f);
}

/* Rows a table counts but HDF5 never wrote (a kill -9 between the flush of a grown extent
 * and that of the new chunk's index) read as the table's fill value, which no row written
 * can be: the reader drops them, and keeps a row written with every cell at its default. */
static void test_unwritten_rows(void) {
    char p[300];
    tmp_path(p, sizeof p, "unwritten.h5");
    qs_h5 *h = NULL;
    qs_h5_table *t = NULL;
    CHECK(qs_h5_open(&h, p, "unwritten") == QS_OK);
    if (!h) return;
    CHECK(qs_h5_table_open(&t, h, "t", tcols, 4) == QS_OK);
    qs_h5_value r0[4] = {QS_H5_VI64(3), QS_H5_VSTR("ffn_in"), QS_H5_VF64(0.5), QS_H5_VSTR("a")};
    CHECK(t && qs_h5_table_append(t, r0) == QS_OK);
    CHECK(t && qs_h5_table_commit(t) == QS_OK); /* every cell at its default */
    CHECK(qs_h5_table_close(t) == QS_OK);
    CHECK(qs_h5_close(h) == QS_OK);
    /* the torn append, made by hand: the extent grows past a chunk, nothing is written */
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/runs/1/t", H5P_DEFAULT);
    hsize_t grown[1] = {2 + 300};
    CHECK(d >= 0 && H5Dset_extent(d, grown) >= 0);
    H5Dclose(d);
    H5Fclose(f);
    f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    size_t n;
    trow *raw = read_table(f, "/runs/1/t", &n);
    CHECK(raw && n == 302);
    if (raw && n == 302) {
        CHECK(raw[1].layer == 0 && isnan(raw[1].value) && raw[1].site[0] == 0);
        CHECK(raw[2].layer == INT64_MIN && isnan(raw[2].value) && raw[2].site[0] == 0 &&
              raw[2].text[0] == 0);
        CHECK(raw[301].layer == INT64_MIN);
    }
    free(raw);
    H5Fclose(f);
    qs_h5_reader *r = NULL;
    qs_h5_rows *rows = NULL;
    CHECK(qs_h5_reader_open(&r, p) == QS_OK);
    CHECK(r && qs_h5_reader_table(r, 1, "t", &rows) == QS_OK && rows);
    if (rows) {
        CHECK_MSG(rows->nrows == 2, "%zu rows", rows->nrows);
        CHECK(rows->cells[0].u.i == 3 && rows->cells[4].u.i == 0 && isnan(rows->cells[6].u.f));
        qs_h5_rows_free(rows);
    }
    qs_h5_reader_close(r);
}

/* ---- provenance ----------------------------------------------------------------------- */

static void test_provenance(void) {
    char p[300], script[300];
    tmp_path(p, sizeof p, "prov.h5");
    tmp_path(script, sizeof script, "sweep.lua");
    CHECK(write_bytes(script, "abc", 3) == 0);
    qs_h5 *h = NULL;
    CHECK(qs_h5_open(&h, p, "prov") == QS_OK);
    if (!h) return;
    /* a missing input fails before anything is written */
    qs_provenance bad = {.command_line = "qscope run", .text_path = "no/such/text.txt"};
    CHECK(qs_h5_write_provenance(h, &bad) == QS_ERR_IO && msg_has("no/such/text.txt"));
    const char *pl[] = {"bits=4", "group=128"};
    qs_provenance pv = {
        .command_line = "qscope run sweep.lua --bits 4",
        .script_path = script,
        .model_path = "data/models/stories260K.bin",
        .text_path = "tests/fixtures/hf-stories260K/config.json",
        .params = "bits=4; group=128",
        .param_list = pl,
        .n_params = 2,
        .seed = 1234,
        .has_seed = 1,
        .threads = 3,
    };
    CHECK(qs_h5_write_provenance(h, &pv) == QS_OK);
    CHECK(qs_h5_close(h) == QS_OK);

    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    const char *g = "/runs/1/provenance";
    char s[256], want[65] = "";
    int64_t iv;
    CHECK(read_attr_str(f, g, "command_line", s, sizeof s) == 0 &&
          strcmp(s, "qscope run sweep.lua --bits 4") == 0);
    CHECK(read_attr_str(f, g, "script_path", s, sizeof s) == 0 && strcmp(s, script) == 0);
    CHECK(read_attr_str(f, g, "script_sha256", s, sizeof s) == 0 &&
          strcmp(s, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    FILE *ps = popen("sha256sum data/models/stories260K.bin", "r");
    CHECK(ps && fscanf(ps, "%64s", want) == 1);
    if (ps) pclose(ps);
    CHECK(read_attr_str(f, g, "model_sha256", s, sizeof s) == 0 && strcmp(s, want) == 0);
    CHECK(read_attr_str(f, g, "model_sha256_kind", s, sizeof s) == 0 && strcmp(s, "file") == 0);
    /* the text hash against the fixture list */
    FILE *sums = fopen("tests/fixtures/SHA256SUMS", "r");
    char line[1024], h1[65], name[900], th[65] = "";
    while (sums && fgets(line, sizeof line, sums))
        if (sscanf(line, "%64s %899s", h1, name) == 2 &&
            strcmp(name, "./hf-stories260K/config.json") == 0)
            memcpy(th, h1, 65);
    if (sums) fclose(sums);
    CHECK(th[0] && read_attr_str(f, g, "text_sha256", s, sizeof s) == 0 && strcmp(s, th) == 0);
    CHECK(read_attr_str(f, g, "params", s, sizeof s) == 0 && strcmp(s, "bits=4; group=128") == 0);
    CHECK(read_attr_i64(f, g, "seed", &iv) == 0 && iv == 1234);
    CHECK(read_attr_i64(f, g, "threads", &iv) == 0 && iv == 3);
    CHECK(read_attr_str(f, g, "qscope_version", s, sizeof s) == 0 && strlen(s) > 0);
    CHECK(read_attr_str(f, g, "gsl_version", s, sizeof s) == 0 && s[0] >= '1' && s[0] <= '9');
    hid_t a = H5Aopen_by_name(f, g, "param_list", H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = H5Aget_space(a);
    CHECK(H5Sget_simple_extent_npoints(sp) == 2);
    H5Sclose(sp);
    H5Aclose(a);
    H5Fclose(f);
}

/* ---- failing writes: RLIMIT_FSIZE ----------------------------------------------------- */

static const qs_h5_col fcols[] = {
    {"i", QS_H5_COL_I64, 0},
    {"x", QS_H5_COL_F64, 0},
    {"note", QS_H5_COL_STR, 200},
};

/* Appends rows until a write fails under a file-size limit `extra` bytes above the current
 * size. With room_check 0 the failure happens inside HDF5's write instead of before it.
 * Returns the process exit status: 3 = failed as expected (reported), 0 = never failed. */
static int append_until_fail(const char *path, long extra, int room_check) {
    qs__h5_room_check = room_check;
    signal(SIGXFSZ, SIG_IGN); /* write() then fails with EFBIG instead of killing us */
    qs_h5 *h = NULL;
    qs_h5_table *t = NULL;
    if (qs_h5_open(&h, path, "fsize") || qs_h5_table_open(&t, h, "sweeps/fsize", fcols, 3)) {
        fprintf(stderr, "setup failed: %s\n", qs_error_message());
        return 1;
    }
    struct stat st;
    if (stat(path, &st) != 0) return 1;
    struct rlimit rl = {(rlim_t)(st.st_size + extra), (rlim_t)(st.st_size + extra)};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) return 1;
    long k = 0;
    int rc = QS_OK;
    char note[256];
    for (; k < 200000; k++) {
        snprintf(note, sizeof note, "row %ld %0150ld", k, k);
        qs_h5_value row[3] = {QS_H5_VI64(k), QS_H5_VF64(k * 0.5), QS_H5_VSTR(note)};
        rc = qs_h5_table_append(t, row);
        if (rc) break;
    }
    printf("appended %ld\n", k);
    fflush(stdout);
    if (rc) fprintf(stderr, "append of row %ld failed as expected: %s\n", k, qs_error_message());
    qs_h5_table_close(t);
    int crc = qs_h5_close(h);
    if (crc) fprintf(stderr, "close after the failure: %s\n", qs_error_message());
    /* a file id left open after a failed close makes HDF5 crash at exit: none may remain */
    ssize_t left = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (left != 0) {
        fprintf(stderr, "%zd HDF5 objects still open after close\n", left);
        return 4;
    }
    return rc ? 3 : 0;
}

/* Appends 50 rows and 3 dump blocks of 8 rows, then dies by SIGKILL without closing. */
static int append_and_kill(const char *path) {
    qs_h5 *h = NULL;
    qs_h5_table *t = NULL;
    qs_h5_dump *d = NULL;
    qs_provenance pv = {.command_line = "append-and-kill", .seed = 7, .has_seed = 1};
    if (qs_h5_open(&h, path, "killed") || qs_h5_write_provenance(h, &pv) ||
        qs_h5_table_open(&t, h, "sweeps/killed", fcols, 3) ||
        qs_h5_dump_open(&d, h, "dump/resid/0", 4, 8, 1)) {
        fprintf(stderr, "setup failed: %s\n", qs_error_message());
        return 1;
    }
    char note[256];
    for (long k = 0; k < 50; k++) {
        snprintf(note, sizeof note, "row %ld %0150ld", k, k);
        qs_h5_value row[3] = {QS_H5_VI64(k), QS_H5_VF64(k * 0.5), QS_H5_VSTR(note)};
        if (qs_h5_table_append(t, row)) return 1;
    }
    float block[8 * 4]; /* (8, 4) */
    for (int b = 0; b < 3; b++) {
        for (int i = 0; i < 32; i++) block[i] = (float)(b * 32 + i);
        if (qs_h5_dump_append(d, block, 8)) return 1;
    }
    kill(getpid(), SIGKILL);
    return 1;
}

/* A writer killed between flushing a table's new chunk (H5Dflush: its data, then its index)
 * and flushing the superblock leaves the superblock's end of allocated space before that
 * chunk: HDF5 refuses to read the table ("addr overflow"). The next qs_h5_open repairs it.
 * The child appends 511 one-column rows (one full chunk), then the first row of a new chunk
 * by hand up to H5Dflush, and kills itself before the file flush that would follow. */
static int kill_mid_flush(const char *path) {
    static const qs_h5_col one[] = {{"i", QS_H5_COL_I64, 0}};
    qs_h5 *h = NULL;
    qs_h5_table *t = NULL;
    if (qs_h5_open(&h, path, "mid-flush") || qs_h5_table_open(&t, h, "t", one, 1)) return 1;
    for (int64_t k = 0; k < 511; k++)
        if (qs_h5_table_append(t, (qs_h5_value[1]){QS_H5_VI64(k)})) return 1;
    hid_t ds = H5Dopen2(h->file, "/runs/1/t", H5P_DEFAULT);
    hsize_t grown[1] = {512}, start[1] = {511}, n1[1] = {1};
    int64_t v = 511;
    hid_t mt = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(mt, "i", 0, H5T_NATIVE_INT64);
    if (ds < 0 || H5Dset_extent(ds, grown) < 0) return 1;
    hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(1, n1, NULL);
    if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, n1, NULL) < 0 ||
        H5Dwrite(ds, mt, ms, fs, H5P_DEFAULT, &v) < 0 || H5Dflush(ds) < 0)
        return 1;
    kill(getpid(), SIGKILL);
    return 1;
}

static long read_i_column(const char *path, const char *ds_path, int64_t *out, long cap) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return -1;
    hid_t d = H5Dopen2(f, ds_path, H5P_DEFAULT);
    hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
    hsize_t n[1] = {0};
    if (sp >= 0) H5Sget_simple_extent_dims(sp, n, NULL);
    hid_t mt = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(mt, "i", 0, H5T_NATIVE_INT64);
    long got = -1;
    if (d >= 0 && (long)n[0] <= cap && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0)
        got = (long)n[0];
    H5Tclose(mt);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
    return got;
}

/* A process killed while it creates a new results file leaves no half-written file at the
 * path (which every later open refused as "not an HDF5 file"): the file is built under a
 * temporary name and renamed once its first run is flushed. The child dies of SIGXFSZ in
 * the middle of that first flush (a 4 KiB file-size limit, the room check off). */
static void test_kill_creating(void) {
    char p[300], tmp[320];
    tmp_path(p, sizeof p, "creating.h5");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        qs__h5_room_check = 0;
        struct rlimit rl = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &rl);
        signal(SIGXFSZ, SIG_DFL);
        qs_h5 *h = NULL;
        qs_h5_open(&h, p, "killed while creating");
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ, "child status %d", status);
    struct stat st;
    CHECK_MSG(stat(p, &st) != 0, "a half-written %s was left (%lld bytes)", p,
              (long long)st.st_size);
    snprintf(tmp, sizeof tmp, "%s.creating", p);
    qs_h5 *h = NULL;
    CHECK_MSG(qs_h5_open(&h, p, "after") == QS_OK && qs_h5_run(h) == 1, "%s", qs_error_message());
    CHECK(qs_h5_close(h) == QS_OK);
    CHECK(stat(tmp, &st) != 0); /* the leftover temporary file was reused and renamed */
}

static void test_kill_mid_flush(void) {
    char p[300];
    tmp_path(p, sizeof p, "midflush.h5");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) _exit(kill_mid_flush(p));
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);
    static int64_t v[600];
    /* the state the kill left: the table does not read (this is what is being repaired) */
    CHECK(read_i_column(p, "/runs/1/t", v, 600) == -1);
    qs_h5 *h = NULL;
    CHECK_MSG(qs_h5_open(&h, p, "repair") == QS_OK && qs_h5_run(h) == 2, "%s", qs_error_message());
    CHECK(qs_h5_close(h) == QS_OK);
    long n = read_i_column(p, "/runs/1/t", v, 600);
    int ok = n == 512;
    for (long k = 0; ok && k < n; k++) ok = v[k] == k;
    CHECK_MSG(ok, "after the repair: %ld rows", n);
}

static void test_killed(void) {
    char p[300];
    tmp_path(p, sizeof p, "killed.h5");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) _exit(append_and_kill(p));
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    hid_t ds = H5Dopen2(f, "/runs/1/sweeps/killed", H5P_DEFAULT);
    hid_t sp = H5Dget_space(ds);
    hsize_t n[1] = {0};
    H5Sget_simple_extent_dims(sp, n, NULL);
    CHECK_MSG(n[0] == 50, "%llu rows after SIGKILL", (unsigned long long)n[0]);
    int64_t iv[50];
    hid_t mt = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(mt, "i", 0, H5T_NATIVE_INT64);
    CHECK(n[0] == 50 && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, iv) >= 0 && iv[0] == 0 &&
          iv[49] == 49);
    H5Tclose(mt);
    H5Sclose(sp);
    H5Dclose(ds);
    double back[24 * 4];
    hsize_t dims[4];
    CHECK(read_ds(f, "/runs/1/dump/resid/0", back, 96, dims) == 2 && dims[0] == 24 &&
          back[95] == 95.0);
    int64_t seed = 0;
    CHECK(read_attr_i64(f, "/runs/1/provenance", "seed", &seed) == 0 && seed == 7);
    H5Fclose(f);
    qs_h5 *h = NULL;
    CHECK(qs_h5_open(&h, p, "after kill") == QS_OK && qs_h5_run(h) == 2);
    CHECK(qs_h5_close(h) == QS_OK);
}

/* The disk fills up under a write that passed the room check (another process took the
 * space): simulated by pointing HDF5's descriptor at /dev/full, which fails every write with
 * ENOSPC. The append fails, the handle freezes, and the close must release everything:
 * a half-closed file makes HDF5's exit hook crash. The file keeps the rows flushed before. */
static void test_enospc(void) {
    char p[300];
    tmp_path(p, sizeof p, "enospc.h5");
    qs_h5 *h = NULL;
    qs_h5_table *t = NULL;
    CHECK(qs_h5_open(&h, p, "enospc") == QS_OK &&
          qs_h5_table_open(&t, h, "sweeps/enospc", fcols, 3) == QS_OK);
    if (!t) return;
    char note[256];
    for (long k = 0; k < 10; k++) {
        snprintf(note, sizeof note, "row %ld", k);
        qs_h5_value row[3] = {QS_H5_VI64(k), QS_H5_VF64(k * 0.5), QS_H5_VSTR(note)};
        CHECK(qs_h5_table_append(t, row) == QS_OK);
    }
    int *fd = NULL;
    CHECK(H5Fget_vfd_handle(h->file, H5P_DEFAULT, (void **)&fd) >= 0 && fd);
    int full = open("/dev/full", O_RDWR);
    CHECK(full >= 0 && fd && dup2(full, *fd) == *fd);
    if (full >= 0) close(full);
    int rc = QS_OK;
    for (long k = 10; k < 2000 && rc == QS_OK; k++) { /* until the chunk goes to the disk */
        snprintf(note, sizeof note, "row %ld", k);
        qs_h5_value row[3] = {QS_H5_VI64(k), QS_H5_VF64(k * 0.5), QS_H5_VSTR(note)};
        rc = qs_h5_table_append(t, row);
    }
    CHECK_MSG(rc == QS_ERR_IO && msg_has("No space left"), "append: %d %s", rc, qs_error_message());
    CHECK(qs_h5_table_append(t, (qs_h5_value[3]){QS_H5_VI64(0), QS_H5_VF64(0), QS_H5_VSTR("")}) ==
          QS_ERR_IO);
    qs_h5_table_close(t);
    CHECK(qs_h5_close(h) == QS_ERR_IO);
    CHECK_MSG(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0, "%zd HDF5 objects left open",
              H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL));
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    hid_t d = H5Dopen2(f, "/runs/1/sweeps/enospc", H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    hsize_t n[1] = {0};
    H5Sget_simple_extent_dims(sp, n, NULL);
    CHECK_MSG(n[0] == 10, "%llu rows after the failure", (unsigned long long)n[0]);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    CHECK(qs_h5_open(&h, p, "after") == QS_OK && qs_h5_run(h) == 2);
    CHECK(qs_h5_close(h) == QS_OK);
    /* the same when the failing write is the flush of new objects: HDF5 1.10 then cannot
     * close the file at all; the process must still exit cleanly (no crash in HDF5's exit
     * hook) and the file must keep its earlier run. Run in a fresh process (fork + exec),
     * where qs_h5_open is the first HDF5 call, as in qscope. */
    tmp_path(p, sizeof p, "enospc2.h5");
    qs_h5 *h2 = NULL;
    CHECK(qs_h5_open(&h2, p, "run 1") == QS_OK && qs_h5_close(h2) == QS_OK);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        int err = open("/dev/null", O_WRONLY);
        if (err >= 0) dup2(err, STDERR_FILENO);
        execl("/proc/self/exe", "test_h5store", "--enospc-flush", p, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 3, "child status %d", status);
    hid_t f2 = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    int64_t latest = 0;
    CHECK(f2 >= 0 && read_attr_i64(f2, "/runs", "latest", &latest) == 0 && latest >= 1);
    if (f2 >= 0) H5Fclose(f2);
    CHECK(qs_h5_open(&h2, p, "after") == QS_OK && qs_h5_close(h2) == QS_OK);
}

/* The child of test_enospc: opens PATH, points HDF5's descriptor at /dev/full, creates a
 * table (its flush fails), closes. Exits 3 when both failed as expected; a crash at exit
 * shows as a signal in the parent. */
static int enospc_flush(const char *path) {
    qs_h5 *h = NULL;
    qs_h5_table *t = NULL;
    if (qs_h5_open(&h, path, "enospc") != QS_OK) return 1;
    int *fd = NULL;
    if (H5Fget_vfd_handle(h->file, H5P_DEFAULT, (void **)&fd) < 0 || !fd) return 1;
    int full = open("/dev/full", O_RDWR);
    if (full < 0 || dup2(full, *fd) != *fd) return 1;
    close(full);
    int rc1 = qs_h5_table_open(&t, h, "sweeps/new", fcols, 3);
    int rc2 = qs_h5_close(h);
    return rc1 == QS_ERR_IO && rc2 == QS_ERR_IO ? 3 : 2;
}

static void test_fsize(long extra, int room_check) {
    char p[300];
    snprintf(p, sizeof p, "%s/fsize_%ld_%d.h5", tmpdir, extra, room_check);
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        dup2(pfd[1], STDOUT_FILENO);
        int err = open("/dev/null", O_WRONLY); /* the expected error is not test noise */
        if (err >= 0) dup2(err, STDERR_FILENO);
        _exit(append_until_fail(p, extra, room_check));
    }
    close(pfd[1]);
    char buf[128] = "";
    ssize_t got = read(pfd[0], buf, sizeof buf - 1);
    close(pfd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    long k = -1;
    if (got > 0) buf[got] = '\0', sscanf(buf, "appended %ld", &k);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 3, "child status %d", status);
    CHECK_MSG(k > (room_check ? 100 : 10), "child appended %ld rows before failing", k);

    /* every row appended before the failure is there, intact */
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    hid_t d = H5Dopen2(f, "/runs/1/sweeps/fsize", H5P_DEFAULT);
    CHECK(d >= 0);
    hid_t sp = H5Dget_space(d);
    hsize_t n[1] = {0};
    H5Sget_simple_extent_dims(sp, n, NULL);
    CHECK_MSG((long)n[0] >= k && (long)n[0] <= k + 1, "%llu rows in file, %ld appended",
              (unsigned long long)n[0], k);
    typedef struct {
        int64_t i;
        double x;
        char note[200];
    } __attribute__((packed)) frow;
    hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(frow));
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 200);
    H5Tset_strpad(st, H5T_STR_NULLPAD);
    H5Tset_cset(st, H5T_CSET_UTF8);
    H5Tinsert(mt, "i", offsetof(frow, i), H5T_NATIVE_INT64);
    H5Tinsert(mt, "x", offsetof(frow, x), H5T_NATIVE_DOUBLE);
    H5Tinsert(mt, "note", offsetof(frow, note), st);
    frow *rows = calloc(n[0] ? n[0] : 1, sizeof *rows);
    CHECK(n[0] == 0 || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) >= 0);
    int ok = 1;
    for (long i = 0; i < k && i < (long)n[0]; i++) {
        char note[256];
        snprintf(note, sizeof note, "row %ld %0150ld", i, i);
        ok &= rows[i].i == i && rows[i].x == i * 0.5 && strncmp(rows[i].note, note, 200) == 0;
    }
    CHECK(ok);
    free(rows);
    H5Tclose(st);
    H5Tclose(mt);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    /* and the file still takes a new run */
    qs_h5 *h = NULL;
    CHECK(qs_h5_open(&h, p, "after") == QS_OK && qs_h5_run(h) == 2);
    CHECK(qs_h5_close(h) == QS_OK);
}

/* ---- the sample file for the h5py reference test -------------------------------------- */

#define TRY(x)                                                                         \
    do {                                                                               \
        int rc_ = (x);                                                                 \
        if (rc_) {                                                                     \
            fprintf(stderr, "test_h5store --write: %s: %s\n", #x, qs_error_message()); \
            return 1;                                                                  \
        }                                                                              \
    } while (0)

static int write_sample(const char *path) {
    enum { L = 5, C = 64, T = 37 };
    qs_h5 *h;
    /* run 1: everything */
    TRY(qs_h5_open(&h, path, "sample-1"));
    const char *pl[] = {"bits=4", "group=128"};
    qs_provenance pv = {
        .command_line = "test_h5store --write",
        .script_path = "tests/unit/check.h",
        .model_path = "data/models/stories260K.bin",
        .text_path = "data/text/tinystories_v2_valid_head100.txt",
        .params = "bits=4; group=128",
        .param_list = pl,
        .n_params = 2,
        .seed = 42,
        .has_seed = 1,
        .threads = 2,
    };
    TRY(qs_h5_write_provenance(h, &pv));
    TRY(qs_h5_attr_str(h, "model", "name", "stories260K"));
    TRY(qs_h5_attr_i64(h, "model", "dim", C));
    TRY(qs_h5_attr_i64(h, "model", "n_layers", L));
    TRY(qs_h5_attr_f64(h, "model", "norm_eps", 1e-5));
    double fr[3] = {1.0, 0.5, 0.25};
    TRY(qs_h5_attr_f64s(h, "model", "freqs", fr, 3));
    static double absmax[L * C]; /* (L, C) */
    static float mean[L * C];    /* (L, C) */
    for (int l = 0; l < L; l++)
        for (int c = 0; c < C; c++) {
            absmax[l * C + c] = l * 1000.0 + c + 0.25;
            mean[l * C + c] = (float)(l - c) * 0.5f;
        }
    TRY(qs_h5_matrix_write(h, "stats/attn_in/absmax", QS_H5_F64, absmax, L, C));
    TRY(qs_h5_matrix_write(h, "stats/attn_in/mean", QS_H5_F32, mean, L, C));
    int64_t counts[L * 10]; /* (L, B) */
    double edges[11];
    for (int i = 0; i < L * 10; i++) counts[i] = i * i;
    for (int i = 0; i < 11; i++) edges[i] = -1.0 + 0.2 * i;
    TRY(qs_h5_matrix_write(h, "stats/attn_in/hist/counts", QS_H5_I64, counts, L, 10));
    TRY(qs_h5_vector_write(h, "stats/attn_in/hist/edges", QS_H5_F64, edges, 11));
    float wq[8 * 8];
    for (int i = 0; i < 64; i++) wq[i] = (float)i / 64.0f;
    TRY(qs_h5_matrix_write(h, "weights/blk.0.wq", QS_H5_F32, wq, 8, 8));

    qs_h5_table *t;
    const qs_h5_col ch[] = {
        {"layer", QS_H5_COL_I64, 0},
        {"site", QS_H5_COL_STR, 16},
        {"channel", QS_H5_COL_I64, 0},
        {"absmax", QS_H5_COL_F64, 0},
        {"ratio_to_median", QS_H5_COL_F64, 0},
        {"token_fraction", QS_H5_COL_F64, 0},
        {"sequence_fraction", QS_H5_COL_F64, 0},
    };
    TRY(qs_h5_table_open(&t, h, "outliers/channels", ch, 7));
    for (int i = 0; i < 3; i++) {
        qs_h5_value r[7] = {QS_H5_VI64(i),         QS_H5_VSTR("ffn_down_in"),  QS_H5_VI64(10 + i),
                            QS_H5_VF64(100.5 + i), QS_H5_VF64(20.0 * (i + 1)), QS_H5_VF64(0.5),
                            QS_H5_VF64(1.0)};
        TRY(qs_h5_table_append(t, r));
    }
    TRY(qs_h5_table_close(t));
    const qs_h5_col tk[] = {
        {"layer", QS_H5_COL_I64, 0},    {"site", QS_H5_COL_STR, 16},
        {"sequence", QS_H5_COL_I64, 0}, {"position", QS_H5_COL_I64, 0},
        {"token_id", QS_H5_COL_I64, 0}, {"token_text", QS_H5_COL_STR, 8},
        {"channel", QS_H5_COL_I64, 0},  {"value", QS_H5_COL_F64, 0},
        {"ratio", QS_H5_COL_F64, 0},
    };
    TRY(qs_h5_table_open(&t, h, "outliers/tokens", tk, 9));
    /* by-name rows; the second token text is cut before the euro sign (8 bytes) */
    const char *texts[2] = {" Once", " caf\xc3\xa9 \xe2\x82\xac"};
    for (int i = 0; i < 2; i++) {
        TRY(qs_h5_table_set_i64(t, "layer", 4));
        TRY(qs_h5_table_set_str(t, "site", "resid"));
        TRY(qs_h5_table_set_i64(t, "sequence", 0));
        TRY(qs_h5_table_set_i64(t, "position", i));
        TRY(qs_h5_table_set_i64(t, "token_id", 400 + i));
        TRY(qs_h5_table_set_str(t, "token_text", texts[i]));
        TRY(qs_h5_table_set_i64(t, "channel", 7));
        TRY(qs_h5_table_set_f64(t, "value", -12.5 * (i + 1)));
        if (i == 0) TRY(qs_h5_table_set_f64(t, "ratio", 33.0)); /* row 1: ratio stays NaN */
        TRY(qs_h5_table_commit(t));
    }
    TRY(qs_h5_table_close(t));
    const qs_h5_col sw[] = {
        {"target", QS_H5_COL_STR, 8},         {"tensor", QS_H5_COL_STR, 32},
        {"layer", QS_H5_COL_I64, 0},          {"bits", QS_H5_COL_I64, 0},
        {"scheme", QS_H5_COL_STR, 10},        {"granularity", QS_H5_COL_STR, 8},
        {"group", QS_H5_COL_I64, 0},          {"clip", QS_H5_COL_STR, 12},
        {"clip_value", QS_H5_COL_F64, 0},     {"mse", QS_H5_COL_F64, 0},
        {"sqnr_db", QS_H5_COL_F64, 0},        {"max_err", QS_H5_COL_F64, 0},
        {"bits_per_value", QS_H5_COL_F64, 0},
    };
    TRY(qs_h5_table_open(&t, h, "sweeps/weights", sw, 13));
    const int bits[4] = {8, 6, 4, 3};
    for (int i = 0; i < 4; i++) {
        qs_h5_value r[13] = {QS_H5_VSTR("weight"),
                             QS_H5_VSTR("blk.0.wq"),
                             QS_H5_VI64(0),
                             QS_H5_VI64(bits[i]),
                             QS_H5_VSTR("symmetric"),
                             QS_H5_VSTR("group"),
                             QS_H5_VI64(128),
                             QS_H5_VSTR("absmax"),
                             QS_H5_VF64(1.0),
                             QS_H5_VF64(ldexp(1.0, -2 * bits[i])),
                             QS_H5_VF64(6.02 * bits[i]),
                             QS_H5_VF64(ldexp(1.0, -bits[i])),
                             QS_H5_VF64(bits[i] + 16.0 / 128)};
        TRY(qs_h5_table_append(t, r));
    }
    TRY(qs_h5_table_close(t));
    const qs_h5_col pp[] = {
        {"weight_config", QS_H5_COL_STR, 24},
        {"act_config", QS_H5_COL_STR, 24},
        {"ppl", QS_H5_COL_F64, 0},
        {"ppl_stderr", QS_H5_COL_F64, 0},
        {"nll", QS_H5_COL_F64, 0},
        {"kld", QS_H5_COL_F64, 0},
        {"top1_agree", QS_H5_COL_F64, 0},
        {"tokens", QS_H5_COL_I64, 0},
    };
    TRY(qs_h5_table_open(&t, h, "ppl/weights", pp, 8));
    qs_h5_value pr[8] = {QS_H5_VSTR("W4A16 g128"), QS_H5_VSTR("none"),    QS_H5_VF64(3.75),
                         QS_H5_VF64(0.05),         QS_H5_VF64(log(3.75)), QS_H5_VF64(0.01),
                         QS_H5_VF64(0.97),         QS_H5_VI64(16384)};
    TRY(qs_h5_table_append(t, pr));
    TRY(qs_h5_table_close(t));

    qs_h5_dump *d;
    static float act[T * C]; /* (T, C) */
    for (int i = 0; i < T * C; i++) act[i] = (float)(i % 97) - 48.0f;
    TRY(qs_h5_dump_open(&d, h, "dump/attn_in/0", C, 16, 4));
    for (int r = 0; r < T; r += 10)
        TRY(qs_h5_dump_append(d, act + r * C, r + 10 <= T ? 10 : T - r));
    TRY(qs_h5_dump_close(d));
    TRY(qs_h5_close(h));

    /* run 2: a directory model, a table with two rows */
    TRY(qs_h5_open(&h, path, "sample-2"));
    qs_provenance pv2 = {.command_line = "test_h5store --write (2)",
                         .model_path = "tests/fixtures/hf-stories260K"};
    TRY(qs_h5_write_provenance(h, &pv2));
    TRY(qs_h5_table_open(&t, h, "ppl/weights", pp, 8));
    TRY(qs_h5_table_append(t, pr));
    pr[0] = QS_H5_VSTR("W8A8 per-token");
    pr[2] = QS_H5_VF64(3.5);
    TRY(qs_h5_table_append(t, pr));
    TRY(qs_h5_table_close(t));
    TRY(qs_h5_matrix_write(h, "stats/ffn_down_in/kurtosis", QS_H5_F64, absmax, L, C));
    TRY(qs_h5_close(h));
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write") == 0) return write_sample(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--append-and-kill") == 0) return append_and_kill(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--enospc-flush") == 0) return enospc_flush(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--append-until-fail") == 0)
        return append_until_fail(argv[2], 262144, 1);
    if (argc == 4 && strcmp(argv[1], "--append-until-fail") == 0)
        return append_until_fail(argv[2], atol(argv[3]), 0);
    if (argc != 1) {
        fprintf(stderr, "usage: test_h5store [--write PATH | --append-and-kill PATH | "
                        "--append-until-fail PATH [ROOM]]\n");
        return 2;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qs_test_h5store.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the refusal tests make HDF5 fail on purpose */
    test_sha256();
    test_open_runs();
    test_refusals();
    test_groups_attrs_arrays();
    test_dump();
    test_utf8_prefix();
    test_table();
    test_unwritten_rows();
    test_provenance();
    test_killed();
    test_kill_mid_flush();
    test_kill_creating();
    test_enospc();
    test_fsize(262144, 1);
    for (long extra = 12288; extra <= 77824; extra += 7 * 1024 + 123) test_fsize(extra, 0);
    CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);
    if (check_failed == 0) {
        char cmd[320];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    } else {
        fprintf(stderr, "files kept in %s\n", tmpdir);
    }
    return check_summary("test_h5store");
}
