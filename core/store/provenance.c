/* Provenance of a run: where the results came from (versions, inputs and their sha256,
 * parameters, libraries, times), as attributes of /runs/<n>/provenance. */
#include "provenance.h"
#include "h5store_int.h"

#include "error.h"
#include "sha256.h"
#include "version.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <gsl/gsl_version.h>
#include <lua.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void qs_h5_now_iso(char buf[32]) {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static hid_t open_prov(qs_h5 *h, char *path, size_t n, int create) {
    snprintf(path, n, "%s/provenance", h->prefix);
    if (create) return H5Gcreate2(h->file, path, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    return H5Gopen2(h->file, path, H5P_DEFAULT);
}

int qs__h5_provenance_begin(qs_h5 *h, const char *run_label) {
    char path[64];
    hid_t g = open_prov(h, path, sizeof path, 1);
    if (g < 0) return qs__h5_fail(QS_ERR_IO, h, path, "cannot create provenance group");
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    char hdf5v[32];
    snprintf(hdf5v, sizeof hdf5v, "%u.%u.%u", maj, min, rel);
    const char *blas = openblas_get_config();
    struct {
        const char *name, *value;
    } s[] = {
        {"qscope_version", qs_version()},
        {"git_rev", qs_git_revision()},
        {"start_time", h->start_time},
        {"run_label", run_label ? run_label : ""},
        {"hdf5_version", hdf5v},
        {"gsl_version", gsl_version},
        {"lua_version", LUA_RELEASE},
        {"openblas_config", blas ? blas : ""},
        {"cjson_version", cJSON_Version()},
    };
    int rc = QS_OK;
    for (size_t i = 0; i < sizeof s / sizeof s[0] && rc == QS_OK; i++)
        rc = qs__h5_attr_str_on(h, g, path, s[i].name, s[i].value);
    if (rc == QS_OK) rc = qs__h5_attr_i64_on(h, g, path, "omp_max_threads", omp_get_max_threads());
    H5Gclose(g);
    return rc;
}

int qs__h5_provenance_end(qs_h5 *h) {
    char path[64], now[32];
    qs_h5_now_iso(now);
    hid_t g = open_prov(h, path, sizeof path, 0);
    if (g < 0) return qs__h5_fail(QS_ERR_IO, h, path, "cannot open provenance group");
    int rc = qs__h5_attr_str_on(h, g, path, "end_time", now);
    H5Gclose(g);
    return rc;
}

static int name_cmp(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name); /* byte order, not the locale's */
}

struct manifest {
    char *text;
    size_t len, cap;
};

/* Appends "<sha256>  <name>\n" for dir/name if it is a regular, non-hidden file. */
static int manifest_add(struct manifest *m, const char *dir, const char *name) {
    if (name[0] == '.') return QS_OK;
    size_t plen = strlen(dir) + strlen(name) + 2;
    char *p = malloc(plen);
    if (!p) return qs_error_set(QS_ERR_NOMEM, "sha256: out of memory");
    snprintf(p, plen, "%s/%s", dir, name);
    struct stat st;
    int rc = QS_OK;
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
        char fh[QS_SHA256_HEX_LEN + 1];
        rc = qs_sha256_file(p, fh);
        size_t need = m->len + QS_SHA256_HEX_LEN + 2 + strlen(name) + 2;
        if (rc == QS_OK && need > m->cap) {
            size_t cap = m->cap ? m->cap : 1024;
            while (cap < need) cap *= 2;
            char *t = realloc(m->text, cap);
            if (!t)
                rc = qs_error_set(QS_ERR_NOMEM, "sha256: out of memory");
            else
                m->text = t, m->cap = cap;
        }
        if (rc == QS_OK)
            m->len += (size_t)snprintf(m->text + m->len, m->cap - m->len, "%s  %s\n", fh, name);
    }
    free(p);
    return rc;
}

/* sha256 of a directory: of its manifest "<sha256>  <name>\n" over the regular files
 * directly in it, sorted by name (what `LC_ALL=C sha256sum * | sha256sum` gives). */
static int sha256_dir(const char *dir, char hex[QS_SHA256_HEX_LEN + 1]) {
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, name_cmp);
    if (n < 0) return qs_error_set(QS_ERR_IO, "sha256: cannot list directory '%s'", dir);
    struct manifest m = {NULL, 0, 0};
    int rc = QS_OK;
    for (int i = 0; i < n; i++) {
        if (rc == QS_OK) rc = manifest_add(&m, dir, ents[i]->d_name);
        free(ents[i]);
    }
    free(ents);
    if (rc == QS_OK) qs_sha256_mem(m.text, m.len, hex);
    free(m.text);
    return rc;
}

int qs_h5_sha256_path(const char *path, char hex[QS_SHA256_HEX_LEN + 1], const char **kind) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        *kind = "dir-manifest";
        return sha256_dir(path, hex);
    }
    *kind = "file";
    return qs_sha256_file(path, hex);
}

int qs_h5_write_provenance(qs_h5 *h, const qs_provenance *p) {
    int rc = qs__h5_writable(h, "qs_h5_write_provenance");
    if (rc == QS_OK) rc = qs__h5_room(h, 0, "provenance");
    if (rc) return rc;
    if (!p) return qs_error_set(QS_ERR_ARG, "qs_h5_write_provenance: provenance is NULL");
    if (p->n_params && !p->param_list)
        return qs_error_set(QS_ERR_ARG, "qs_h5_write_provenance: param_list is NULL");
    /* hash first: a missing input then writes nothing */
    char script_h[QS_SHA256_HEX_LEN + 1] = "", model_h[QS_SHA256_HEX_LEN + 1] = "",
                                      text_h[QS_SHA256_HEX_LEN + 1] = "";
    const char *model_kind = "given";
    if (p->script_path && (rc = qs_sha256_file(p->script_path, script_h)))
        return qs_error_prefix(rc, "provenance of script");
    if (p->model_path && !p->model_sha256 &&
        (rc = qs_h5_sha256_path(p->model_path, model_h, &model_kind)))
        return qs_error_prefix(rc, "provenance of model");
    if (p->model_sha256) snprintf(model_h, sizeof model_h, "%s", p->model_sha256);
    if (p->text_path && (rc = qs_sha256_file(p->text_path, text_h)))
        return qs_error_prefix(rc, "provenance of text");

    char path[64];
    hid_t g = open_prov(h, path, sizeof path, 0);
    if (g < 0) return qs__h5_fail(QS_ERR_IO, h, path, "cannot open provenance group");
    struct {
        const char *name, *value;
    } s[] = {
        {"command_line", p->command_line},
        {"script_path", p->script_path},
        {"script_sha256", p->script_path ? script_h : NULL},
        {"model_path", p->model_path},
        {"model_sha256", p->model_path || p->model_sha256 ? model_h : NULL},
        {"model_sha256_kind", p->model_path || p->model_sha256 ? model_kind : NULL},
        {"text_path", p->text_path},
        {"text_sha256", p->text_path ? text_h : NULL},
        {"params", p->params},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0] && rc == QS_OK; i++)
        if (s[i].value) rc = qs__h5_attr_str_on(h, g, path, s[i].name, s[i].value);
    H5Gclose(g);
    if (rc == QS_OK && p->param_list)
        rc = qs_h5_attr_strs(h, "provenance", "param_list", p->param_list, p->n_params);
    if (rc == QS_OK && p->has_seed) rc = qs_h5_attr_i64(h, "provenance", "seed", p->seed);
    if (rc == QS_OK)
        rc = qs_h5_attr_i64(h, "provenance", "threads",
                            p->threads > 0 ? p->threads : omp_get_max_threads());
    /* on disk now, not at the next append: a run killed early still says what it was */
    if (rc == QS_OK) rc = qs__h5_flush(h, path);
    return rc;
}
