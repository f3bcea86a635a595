/* The generic HDF5 helper layer under the result store: error messages that carry HDF5's
 * innermost cause, run-relative paths, what sits at a path, group creation, and attribute
 * writes. Nothing here opens, flushes or closes the file (h5file.c does). */
#include "h5store_int.h"

#include "error.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors --------------------------------------------------------------------------- */

struct h5_err_walk {
    char desc[320];
    char func[64];
    int found;
};

/* Upward walk starts at the innermost frame: the one that says what really failed
 * (errno, "truncated file", ...). Keep that one. */
static herr_t h5_err_walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
    struct h5_err_walk *w = data;
    if (w->found) return 0;
    snprintf(w->desc, sizeof w->desc, "%s", e->desc ? e->desc : "");
    /* sec2 write errors carry ctime()'s newline and a long tail of buffer addresses */
    char *tail = strstr(w->desc, ", buf = ");
    if (tail) *tail = '\0';
    for (char *c = w->desc; *c; c++)
        if (*c == '\n') *c = ' ';
    snprintf(w->func, sizeof w->func, "%s", e->func_name ? e->func_name : "");
    w->found = 1;
    return 0;
}

static herr_t h5_err_lock_cb(unsigned n, const H5E_error2_t *e, void *data) {
    (void)n;
    if (e->desc && strstr(e->desc, "unable to lock file")) *(int *)data = 1;
    return 0;
}

int qs__h5_err_locked(void) {
    int found = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_err_lock_cb, &found);
    return found;
}

int qs__h5_fail(int code, const qs_h5 *h, const char *obj, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    struct h5_err_walk w = {{0}, {0}, 0};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_err_walk_cb, &w);
    H5Eclear2(H5E_DEFAULT);
    const char *file = h && h->path ? h->path : "(hdf5)";
    if (w.found)
        return qs_error_set(code, "%s: %s%s%s (HDF5 %s: %s)", file, obj ? obj : "", obj ? ": " : "",
                            what, w.func, w.desc);
    return qs_error_set(code, "%s: %s%s%s", file, obj ? obj : "", obj ? ": " : "", what);
}

/* ---- names ---------------------------------------------------------------------------- */

long qs__h5_utf8_bad(const char *s) {
    size_t n = strlen(s), bad = qs_utf8_check((const unsigned char *)s, n); /* base/utf8 */
    return bad == n ? -1 : (long)bad;
}

int qs__h5_check_name(const qs_h5 *h, const char *what, const char *name) {
    long bad = qs__h5_utf8_bad(name);
    if (bad >= 0)
        return qs_error_set(QS_ERR_ARG,
                            "%s: %s is not valid UTF-8 (byte %ld); names must be UTF-8 so that "
                            "readers such as h5py can decode them",
                            h && h->path ? h->path : "(hdf5)", what, bad);
    return QS_OK;
}

/* ---- paths and groups ----------------------------------------------------------------- */

int qs__h5_fullpath(const qs_h5 *h, const char *rel, int allow_root, char **full) {
    *full = NULL;
    if (!rel) return qs_error_set(QS_ERR_ARG, "%s: object path is NULL", h->path);
    if (qs__h5_check_name(h, "object path", rel)) return QS_ERR_ARG;
    const char *r = rel[0] == '/' ? rel + 1 : rel;
    if (!*r && !allow_root) return qs_error_set(QS_ERR_ARG, "%s: empty object path", h->path);
    /* every component non-empty and not "." / ".." */
    for (const char *p = r; *p;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return qs_error_set(QS_ERR_ARG,
                                "%s: bad object path '%s' (empty, '.' or '..' component)", h->path,
                                rel);
        if (!e) break;
        p = e + 1;
        if (!*p)
            return qs_error_set(QS_ERR_ARG, "%s: bad object path '%s' (trailing '/')", h->path,
                                rel);
    }
    size_t n = strlen(h->prefix) + 1 + strlen(r) + 1;
    char *s = malloc(n);
    if (!s) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory for a path", h->path);
    if (*r)
        snprintf(s, n, "%s/%s", h->prefix, r);
    else
        snprintf(s, n, "%s", h->prefix);
    *full = s;
    return QS_OK;
}

/* Kind of the object at an absolute path, one component at a time: H5Lexists on a path
 * whose parent is missing is an error in some HDF5 versions. */
int qs__h5_kind(const qs_h5 *h, const char *full) {
    size_t n = strlen(full);
    char *buf = malloc(n + 1);
    if (!buf) return -qs_error_set(QS_ERR_NOMEM, "%s: out of memory", h->path);
    memcpy(buf, full, n + 1);
    int kind = QS__H5_GROUP; /* "/" is a group */
    for (size_t i = 1; i <= n; i++) {
        if (full[i] != '/' && full[i] != '\0') continue;
        if (kind != QS__H5_GROUP) {
            kind = QS__H5_OTHER;
            break;
        } /* parent not a group */
        buf[i] = '\0';
        htri_t ex = H5Lexists(h->file, buf, H5P_DEFAULT);
        if (ex < 0) {
            qs__h5_fail(QS_ERR_IO, h, buf, "cannot check whether it exists");
            free(buf);
            return -QS_ERR_IO;
        }
        if (!ex) {
            kind = QS__H5_NONE;
            break;
        }
        hid_t o = H5Oopen(h->file, buf, H5P_DEFAULT);
        if (o < 0) {
            qs__h5_fail(QS_ERR_IO, h, buf, "cannot open (dangling link?)");
            free(buf);
            return -QS_ERR_IO;
        }
        H5I_type_t t = H5Iget_type(o);
        H5Oclose(o);
        kind = t == H5I_GROUP ? QS__H5_GROUP : t == H5I_DATASET ? QS__H5_DATASET : QS__H5_OTHER;
        buf[i] = full[i];
    }
    free(buf);
    return kind;
}

int qs__h5_make_groups(qs_h5 *h, const char *full, int whole) {
    size_t n = strlen(full);
    char *buf = malloc(n + 1);
    if (!buf) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", h->path);
    memcpy(buf, full, n + 1);
    int rc = QS_OK;
    for (size_t i = 1; i <= n && rc == QS_OK; i++) {
        if (full[i] != '/' && full[i] != '\0') continue;
        if (full[i] == '\0' && !whole) break;
        buf[i] = '\0';
        int k = qs__h5_kind(h, buf);
        if (k < 0)
            rc = -k;
        else if (k == QS__H5_NONE) {
            hid_t g = H5Gcreate2(h->file, buf, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            if (g < 0)
                rc = qs__h5_fail(QS_ERR_IO, h, buf, "cannot create group");
            else
                H5Gclose(g);
        } else if (k != QS__H5_GROUP)
            rc = qs_error_set(QS_ERR_ARG, "%s: %s: exists and is not a group", h->path, buf);
        buf[i] = full[i];
    }
    free(buf);
    return rc;
}

int qs_h5_group(qs_h5 *h, const char *path) {
    int rc = qs__h5_writable(h, "qs_h5_group");
    if (rc == QS_OK) rc = qs__h5_room(h, 0, path);
    if (rc) return rc;
    char *full;
    rc = qs__h5_fullpath(h, path, 0, &full);
    if (rc) return rc;
    rc = qs__h5_make_groups(h, full, 1);
    free(full);
    return rc;
}

int qs_h5_exists(qs_h5 *h, const char *path) {
    if (!h || h->file < 0) return 0;
    char *full;
    if (qs__h5_fullpath(h, path, 1, &full)) return 0;
    int k = qs__h5_kind(h, full);
    free(full);
    return k == QS__H5_GROUP || k == QS__H5_DATASET;
}

/* ---- attributes ----------------------------------------------------------------------- */

int qs__h5_attr_write(qs_h5 *h, hid_t obj, const char *objpath, const char *name, hid_t ftype,
                      hid_t mtype, hid_t space, const void *buf) {
    if (!name || !*name)
        return qs_error_set(QS_ERR_ARG, "%s: %s: empty attribute name", h->path, objpath);
    if (qs__h5_check_name(h, "attribute name", name)) return QS_ERR_ARG;
    htri_t ex = H5Aexists(obj, name);
    if (ex < 0) return qs__h5_fail(QS_ERR_IO, h, objpath, "cannot look up attribute '%s'", name);
    if (ex > 0 && H5Adelete(obj, name) < 0)
        return qs__h5_fail(QS_ERR_IO, h, objpath, "cannot replace attribute '%s'", name);
    hid_t a = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return qs__h5_fail(QS_ERR_IO, h, objpath, "cannot create attribute '%s'", name);
    int rc = QS_OK;
    if (H5Awrite(a, mtype, buf) < 0)
        rc = qs__h5_fail(QS_ERR_IO, h, objpath, "cannot write attribute '%s'", name);
    if (H5Aclose(a) < 0 && rc == QS_OK)
        rc = qs__h5_fail(QS_ERR_IO, h, objpath, "cannot close attribute '%s'", name);
    return rc;
}

static hid_t vlen_utf8_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* Attribute of n elements (n == 0 with scalar == 1 means a scalar). */
static int attr_write_n(qs_h5 *h, hid_t obj, const char *objpath, const char *name, hid_t ftype,
                        hid_t mtype, int scalar, size_t n, const void *buf) {
    hsize_t dims[1] = {(hsize_t)n};
    hid_t space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
    if (space < 0) return qs__h5_fail(QS_ERR_IO, h, objpath, "cannot make a dataspace");
    static const double none[1] = {0}; /* H5Awrite wants a buffer even for 0 elements */
    int rc = qs__h5_attr_write(h, obj, objpath, name, ftype, mtype, space, buf ? buf : none);
    H5Sclose(space);
    return rc;
}

int qs__h5_attr_str_on(qs_h5 *h, hid_t obj, const char *objpath, const char *name,
                       const char *value) {
    hid_t t = vlen_utf8_type();
    if (t < 0) return qs__h5_fail(QS_ERR_IO, h, objpath, "cannot make a string type");
    const char *v = value ? value : "";
    int rc = qs__h5_check_name(h, "string attribute value", v);
    if (rc == QS_OK) rc = attr_write_n(h, obj, objpath, name, t, t, 1, 0, &v);
    H5Tclose(t);
    return rc;
}

int qs__h5_attr_i64_on(qs_h5 *h, hid_t obj, const char *objpath, const char *name, int64_t value) {
    return attr_write_n(h, obj, objpath, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, 0, &value);
}

/* Opens the object at a run-relative path for attributes, creating a group if missing. */
static int open_obj(qs_h5 *h, const char *obj, hid_t *id, char **full) {
    *id = -1;
    int rc = qs__h5_writable(h, "attribute write");
    if (rc == QS_OK) rc = qs__h5_room(h, 0, obj); /* flushed later, but reserved now */
    if (rc) return rc;
    rc = qs__h5_fullpath(h, obj, 1, full);
    if (rc) return rc;
    int k = qs__h5_kind(h, *full);
    if (k < 0)
        rc = -k;
    else if (k == QS__H5_NONE)
        rc = qs__h5_make_groups(h, *full, 1);
    else if (k == QS__H5_OTHER)
        rc = qs_error_set(QS_ERR_ARG, "%s: %s: not a group or dataset", h->path, *full);
    if (rc == QS_OK) {
        *id = H5Oopen(h->file, *full, H5P_DEFAULT);
        if (*id < 0) rc = qs__h5_fail(QS_ERR_IO, h, *full, "cannot open");
    }
    if (rc) {
        free(*full);
        *full = NULL;
    }
    return rc;
}

int qs_h5_attr_str(qs_h5 *h, const char *obj, const char *name, const char *value) {
    hid_t id;
    char *full;
    int rc = open_obj(h, obj, &id, &full);
    if (rc) return rc;
    rc = qs__h5_attr_str_on(h, id, full, name, value);
    H5Oclose(id);
    free(full);
    return rc;
}

int qs_h5_attr_strs(qs_h5 *h, const char *obj, const char *name, const char *const *values,
                    size_t n) {
    if (n && !values) return qs_error_set(QS_ERR_ARG, "qs_h5_attr_strs: values is NULL");
    const char **v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return qs_error_set(QS_ERR_NOMEM, "qs_h5_attr_strs: out of memory");
    for (size_t i = 0; i < n; i++) {
        v[i] = values[i] ? values[i] : "";
        if (qs__h5_check_name(h, "string attribute value", v[i])) {
            free(v);
            return QS_ERR_ARG;
        }
    }
    hid_t id;
    char *full;
    int rc = open_obj(h, obj, &id, &full);
    if (rc == QS_OK) {
        hid_t t = vlen_utf8_type();
        if (t < 0)
            rc = qs__h5_fail(QS_ERR_IO, h, full, "cannot make a string type");
        else {
            rc = attr_write_n(h, id, full, name, t, t, 0, n, v);
            H5Tclose(t);
        }
        H5Oclose(id);
        free(full);
    }
    free(v);
    return rc;
}

int qs_h5_attr_i64(qs_h5 *h, const char *obj, const char *name, int64_t value) {
    hid_t id;
    char *full;
    int rc = open_obj(h, obj, &id, &full);
    if (rc) return rc;
    rc = qs__h5_attr_i64_on(h, id, full, name, value);
    H5Oclose(id);
    free(full);
    return rc;
}

int qs_h5_attr_f64(qs_h5 *h, const char *obj, const char *name, double value) {
    hid_t id;
    char *full;
    int rc = open_obj(h, obj, &id, &full);
    if (rc) return rc;
    rc = attr_write_n(h, id, full, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, 0, &value);
    H5Oclose(id);
    free(full);
    return rc;
}

int qs_h5_attr_f64s(qs_h5 *h, const char *obj, const char *name, const double *values, size_t n) {
    if (n && !values) return qs_error_set(QS_ERR_ARG, "qs_h5_attr_f64s: values is NULL");
    hid_t id;
    char *full;
    int rc = open_obj(h, obj, &id, &full);
    if (rc) return rc;
    rc = attr_write_n(h, id, full, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, n, values);
    H5Oclose(id);
    free(full);
    return rc;
}
