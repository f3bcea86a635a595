/* The result file's lifecycle: open/create with refusal of foreign files, the append-only
 * run group, room checks before writes, flush, freezing after a failed write, and close.
 * The generic helpers (errors, paths, groups, attributes) are in h5util.c, datasets in
 * h5data.c, tables in h5table.c, provenance in provenance.c. */
#define _GNU_SOURCE /* fallocate, memfd_create */
#include "h5store_int.h"

#include "error.h"
#include "provenance.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* ---- children, flush ------------------------------------------------------------------ */

void qs__h5_child_add(qs_h5 *h, qs__h5_child *c) {
    c->h = h;
    c->next = h->children;
    h->children = c;
}

void qs__h5_child_remove(qs_h5 *h, qs__h5_child *c) {
    for (qs__h5_child **p = &h->children; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    c->next = NULL;
    c->h = NULL;
}

int qs__h5_flush(qs_h5 *h, const char *obj) {
    if (H5Fflush(h->file, H5F_SCOPE_LOCAL) < 0) {
        int rc = qs__h5_fail(QS_ERR_IO, h, obj, "flush to disk failed");
        qs__h5_freeze(h);
        return rc;
    }
    return QS_OK;
}

int qs__h5_flush_dataset(qs_h5 *h, hid_t ds, const char *obj) {
    if (H5Dflush(ds) < 0) {
        int rc = qs__h5_fail(QS_ERR_IO, h, obj, "writing to disk failed");
        qs__h5_freeze(h);
        return rc;
    }
    return qs__h5_flush(h, obj);
}

int qs_h5_flush(qs_h5 *h) {
    int rc = qs__h5_writable(h, "qs_h5_flush");
    return rc ? rc : qs__h5_flush(h, NULL);
}

/* The descriptor HDF5's sec2 driver (the only one used here) writes to, or -1. */
static int vfd_of(hid_t file) {
    int *fd = NULL;
    if (H5Fget_vfd_handle(file, H5P_DEFAULT, (void **)&fd) < 0 || !fd) fd = NULL;
    H5Eclear2(H5E_DEFAULT);
    return fd ? *fd : -1;
}

void qs__h5_freeze(qs_h5 *h) {
    if (h->frozen) return;
    h->frozen = 1;
    int fd = vfd_of(h->file);
    if (fd >= 0) {
        /* A sink for HDF5's closing writes. An in-memory file (memfd) also takes HDF5's
         * final truncate to its end of allocated space (/dev/null refuses ftruncate, which
         * left the file half-closed), but like any file it is bound by RLIMIT_FSIZE: under a
         * limit below that end, /dev/null, which takes writes at any offset, is the better
         * sink. The real file is no longer reached either way. */
        hsize_t eoa = 0;
        if (H5Fget_filesize(h->file, &eoa) < 0) eoa = 0;
        struct rlimit rl;
        int limited = getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
        int sink = -1;
        if (!limited || (uint64_t)eoa + (1u << 20) <= (uint64_t)rl.rlim_cur)
            sink = memfd_create("qscope-frozen-h5", MFD_CLOEXEC);
        if (sink < 0) sink = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (sink >= 0) {
            dup2(sink, fd);
            close(sink);
        }
    }
    H5Eclear2(H5E_DEFAULT);
}

int qs__h5_writable(const qs_h5 *h, const char *fn) {
    if (!h || h->file < 0) return qs_error_set(QS_ERR_ARG, "%s: no open results file", fn);
    if (h->frozen)
        return qs_error_set(QS_ERR_IO,
                            "%s: %s: an earlier write failed; the file keeps what was flushed "
                            "before and takes no more writes in this session (reopen it)",
                            fn, h->path);
    return QS_OK;
}

int qs__h5_room_check = 1;

/* The room check on a descriptor: size is where the file ends (HDF5's end of allocated
 * space when it is ahead), need what the write may add. path and obj are for messages. */
static int room_fd(int fd, const char *path, uint64_t size, uint64_t need, const char *obj) {
    need += QS__H5_META_MARGIN;
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        size + need > (uint64_t)rl.rlim_cur)
        return qs_error_set(QS_ERR_IO,
                            "%s: %s%sfile size limit reached (RLIMIT_FSIZE %llu bytes, file %llu "
                            "bytes, this write may need %llu more); nothing written",
                            path, obj ? obj : "", obj ? ": " : "", (unsigned long long)rl.rlim_cur,
                            (unsigned long long)size, (unsigned long long)need);
    struct stat st;
    uint64_t eof = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : size;
    /* reserve [eof, size + need): blocks that are allocated cannot run out under a write */
    uint64_t len = size + need - (eof < size ? eof : size);
    if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)eof, (off_t)len) == 0) return QS_OK;
    int e = errno;
    struct statvfs vf;
    uint64_t avail = 0;
    int have_vf = fstatvfs(fd, &vf) == 0;
    /* root may use the reserved blocks, so count them for root only */
    if (have_vf)
        avail =
            (geteuid() == 0 ? (uint64_t)vf.f_bfree : (uint64_t)vf.f_bavail) * (uint64_t)vf.f_frsize;
    if (e == ENOSPC || e == EDQUOT || (have_vf && avail < need))
        return qs_error_set(QS_ERR_IO,
                            "%s: %s%sdisk full (%llu bytes free, this write may need %llu); "
                            "nothing written",
                            path, obj ? obj : "", obj ? ": " : "", (unsigned long long)avail,
                            (unsigned long long)need);
    if (e == EFBIG)
        return qs_error_set(QS_ERR_IO,
                            "%s: %s%sfile too large for this file system; nothing "
                            "written",
                            path, obj ? obj : "", obj ? ": " : "");
    /* no reservation on this file system (EOPNOTSUPP): the free-space check above stands */
    return QS_OK;
}

int qs__h5_room(qs_h5 *h, uint64_t need, const char *obj) {
    if (!qs__h5_room_check) return QS_OK;
    int fd = vfd_of(h->file);
    if (fd < 0) return qs_error_set(QS_ERR_IO, "%s: no file descriptor to check room on", h->path);
    struct stat st;
    uint64_t size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    hsize_t hsz = 0; /* HDF5's end of allocated space may be ahead of the file until a flush */
    if (H5Fget_filesize(h->file, &hsz) >= 0 && hsz > size) size = hsz;
    H5Eclear2(H5E_DEFAULT);
    return room_fd(fd, h->path, size, need, obj);
}

int qs_h5_run(const qs_h5 *h) { return h ? h->n : 0; }

const char *qs_h5_path(const qs_h5 *h) { return h ? h->path : NULL; }

long qs_h5_open_objects(const qs_h5 *h) {
    if (!h || h->file < 0) return -1;
    ssize_t n = H5Fget_obj_count(h->file, H5F_OBJ_ALL);
    return n < 0 ? -1 : (long)n;
}

/* ---- open / close --------------------------------------------------------------------- */

static hid_t make_fapl(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return fapl;
    /* 1.8 file format: readable by every h5py in use, and it has dense attribute storage
     * (no 64 KiB object-header limit) and link creation order.
     * Objects of QS__H5_PAGE / 8 bytes and more start on a page boundary, so a table chunk
     * (at most a page) is rewritten by a write within one page. */
    if (H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0 ||
        H5Pset_alignment(fapl, QS__H5_PAGE / 8, QS__H5_PAGE) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

/* Walking every object of a file loads each object header and its attribute storage, whose
 * checksums (file format 1.8+) HDF5 verifies on the way: a corrupt earlier run is found
 * before anything is appended to the file. Raw data (table rows) carries no checksum. */
typedef struct walk_state {
    hid_t file;
    char last[256]; /* the last object read whole, to say where the damage is */
} walk_state;

static herr_t walk_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
    (void)loc, (void)name, (void)info, (void)data;
    return 0;
}

static herr_t walk_obj_common(const char *name, walk_state *w) {
    if (H5Aiterate_by_name(w->file, name, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, walk_attr, NULL,
                           H5P_DEFAULT) < 0)
        return -1;
    snprintf(w->last, sizeof w->last, "%s", name);
    return 0;
}

#if H5_VERSION_GE(1, 12, 0)
static herr_t walk_obj(hid_t obj, const char *name, const H5O_info2_t *info, void *data) {
    (void)obj, (void)info;
    return walk_obj_common(name, data);
}
#else
static herr_t walk_obj(hid_t obj, const char *name, const H5O_info_t *info, void *data) {
    (void)obj, (void)info;
    return walk_obj_common(name, data);
}
#endif

/* Checks an existing file without changing it: HDF5 signature, opens read-only, /runs is
 * a group if present, every object header and attribute readable. Returns QS_OK or the
 * refusal. */
static int check_existing(qs_h5 *h, hid_t fapl) {
    const char *path = h->path;
#if H5_VERSION_GE(1, 12, 0)
    htri_t is = H5Fis_accessible(path, fapl);
#else
    htri_t is = H5Fis_hdf5(path); /* checks the signature; H5Fis_accessible is 1.12+ */
#endif
    if (is <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return qs_error_set(QS_ERR_FORMAT,
                            "%s: exists and is not an HDF5 file; refusing to write to it "
                            "(choose another results path)",
                            path);
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (f < 0 && qs__h5_err_locked())
        return qs__h5_fail(QS_ERR_IO, h, NULL,
                           "is open for writing in another program that holds HDF5's file "
                           "lock; close it there first");
    if (f < 0)
        return qs__h5_fail(QS_ERR_FORMAT, h, NULL,
                           "has an HDF5 signature but HDF5 cannot open it (truncated or "
                           "corrupt); refusing to write to it");
    int rc = QS_OK;
    htri_t ex = H5Lexists(f, "/runs", H5P_DEFAULT);
#if H5_VERSION_GE(1, 12, 0)
    H5L_info2_t li;
#else
    H5L_info_t li;
#endif
    if (ex < 0)
        rc = qs__h5_fail(QS_ERR_FORMAT, h, "/runs", "cannot be read (corrupt file?)");
    else if (ex > 0 && H5Lget_info(f, "/runs", &li, H5P_DEFAULT) < 0)
        rc = qs__h5_fail(QS_ERR_FORMAT, h, "/runs", "cannot be read (corrupt file?)");
    else if (ex > 0 && li.type != H5L_TYPE_HARD)
        /* an external link would send every write of this run into another file, a soft
         * link into another part of this one */
        rc = qs_error_set(QS_ERR_FORMAT,
                          "%s: /runs is a%s link, not a group of this file; refusing to write "
                          "through it",
                          path, li.type == H5L_TYPE_EXTERNAL ? "n external" : " soft");
    else if (ex > 0) {
        hid_t o = H5Oopen(f, "/runs", H5P_DEFAULT);
        if (o < 0)
            rc = qs__h5_fail(QS_ERR_FORMAT, h, "/runs", "cannot be opened (corrupt file?)");
        else {
            if (H5Iget_type(o) != H5I_GROUP)
                rc = qs_error_set(QS_ERR_FORMAT,
                                  "%s: /runs exists but is not a group; not a qscope results "
                                  "file, refusing to write to it",
                                  path);
            else {
                H5G_info_t gi;
                if (H5Gget_info(o, &gi) < 0)
                    rc = qs__h5_fail(QS_ERR_FORMAT, h, "/runs", "cannot be read (corrupt file?)");
            }
            H5Oclose(o);
        }
    }
    if (rc == QS_OK) {
        walk_state w = {f, "/"};
#if H5_VERSION_GE(1, 12, 0)
        herr_t e = H5Ovisit3(f, H5_INDEX_NAME, H5_ITER_NATIVE, walk_obj, &w, H5O_INFO_ALL);
#else
        herr_t e = H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, walk_obj, &w, H5O_INFO_ALL);
#endif
        if (e < 0)
            rc = qs__h5_fail(QS_ERR_FORMAT, h, NULL,
                             "an object after '%s' cannot be read (corrupt file); refusing to "
                             "write to it",
                             w.last);
    }
    if (H5Fclose(f) < 0 && rc == QS_OK)
        rc = qs__h5_fail(QS_ERR_FORMAT, h, NULL, "cannot be closed after checking it");
    return rc;
}

/* Largest purely numeric link name in /runs (0 if none). */
static int max_run_number(qs_h5 *h, hid_t runs, long *maxn) {
    *maxn = 0;
    H5G_info_t gi;
    if (H5Gget_info(runs, &gi) < 0) return qs__h5_fail(QS_ERR_IO, h, "/runs", "cannot list");
    for (hsize_t i = 0; i < gi.nlinks; i++) {
        char name[64];
        ssize_t len = H5Lget_name_by_idx(runs, ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
                                         sizeof name, H5P_DEFAULT);
        if (len < 0)
            return qs__h5_fail(QS_ERR_IO, h, "/runs", "cannot read link %llu",
                               (unsigned long long)i);
        if (len == 0 || len >= (ssize_t)sizeof name) continue;
        char *end;
        errno = 0;
        long v = strtol(name, &end, 10);
        if (*end || errno || v <= 0 || name[0] < '0' || name[0] > '9') continue;
        if (v > *maxn) *maxn = v;
    }
    return QS_OK;
}

static int start_run(qs_h5 *h, const char *run_label) {
    int rc = QS_OK;
    hid_t runs;
    htri_t ex = H5Lexists(h->file, "/runs", H5P_DEFAULT);
    if (ex < 0) return qs__h5_fail(QS_ERR_IO, h, "/runs", "cannot check whether it exists");
    if (ex)
        runs = H5Gopen2(h->file, "/runs", H5P_DEFAULT);
    else {
        /* track creation order so tools list runs 1, 2, ..., 10 rather than 1, 10, 2 */
        hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
        if (gcpl < 0) return qs__h5_fail(QS_ERR_IO, h, "/runs", "cannot make a property list");
        H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
        runs = H5Gcreate2(h->file, "/runs", H5P_DEFAULT, gcpl, H5P_DEFAULT);
        H5Pclose(gcpl);
    }
    if (runs < 0) return qs__h5_fail(QS_ERR_IO, h, "/runs", "cannot open or create group");
    long maxn = 0;
    rc = max_run_number(h, runs, &maxn);
    if (rc == QS_OK && maxn >= INT_MAX - 1)
        rc = qs_error_set(QS_ERR_FORMAT, "%s: /runs: run numbers exhausted", h->path);
    if (rc == QS_OK) {
        h->n = (int)maxn + 1;
        snprintf(h->prefix, sizeof h->prefix, "/runs/%d", h->n);
        h->run = H5Gcreate2(h->file, h->prefix, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (h->run < 0) rc = qs__h5_fail(QS_ERR_IO, h, h->prefix, "cannot create run group");
    }
    if (rc == QS_OK) rc = qs__h5_attr_i64_on(h, runs, "/runs", "latest", h->n);
    H5Gclose(runs);
    if (rc == QS_OK) rc = qs__h5_attr_str_on(h, h->run, h->prefix, "run_label", run_label);
    if (rc == QS_OK) rc = qs__h5_attr_str_on(h, h->run, h->prefix, "created", h->start_time);
    return rc;
}

/* Before the store's first HDF5 call. After a flush fails inside HDF5 1.10, its metadata
 * cache refuses every later flush ("slist already enabled"), so H5Fclose fails and leaves
 * the file half-closed; HDF5's exit-time cleanup then crashes on it. Every file opened
 * here is closed by qs_h5_close, so that cleanup is not needed: turn it off (effective when
 * this is the process's first HDF5 call, as in qscope; a no-op otherwise). */
static void h5_init(void) {
    static int exit_hook_off;
    if (!exit_hook_off) {
        exit_hook_off = 1;
        H5dont_atexit();
    }
    /* Errors become return codes with messages; HDF5 must not print its stack itself. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void qs__h5_init(void) { h5_init(); }

int qs_h5_is_results(const char *path) {
    struct stat st;
    if (!path || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    h5_init();
    hid_t fapl = make_fapl();
    hid_t f = fapl < 0 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, fapl);
    int yes = 0;
#if H5_VERSION_GE(1, 12, 0)
    H5L_info2_t li;
#else
    H5L_info_t li;
#endif
    if (f >= 0 && H5Lexists(f, "/runs", H5P_DEFAULT) > 0 &&
        H5Lget_info(f, "/runs", &li, H5P_DEFAULT) >= 0 && li.type == H5L_TYPE_HARD) {
        hid_t o = H5Oopen(f, "/runs", H5P_DEFAULT);
        yes = o >= 0 && H5Iget_type(o) == H5I_GROUP;
        if (o >= 0) H5Oclose(o);
    }
    if (f >= 0) H5Fclose(f);
    if (fapl >= 0) H5Pclose(fapl);
    H5Eclear2(H5E_DEFAULT);
    return yes;
}

/* Room for opening: the run group, its attributes and provenance (well under the margin).
 * Checked on a descriptor of our own before HDF5 writes anything, so a full disk or a
 * file-size limit refuses the open with the file untouched. */
static int room_before_open(const char *path) {
    if (!qs__h5_room_check) return QS_OK;
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return qs_error_set(QS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int rc = fstat(fd, &st) == 0
                 ? room_fd(fd, path, (uint64_t)st.st_size, 0, NULL)
                 : qs_error_set(QS_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    close(fd);
    return rc;
}

/* A writer killed between flushing a table's chunk (data, then its index) and flushing the
 * file's superblock leaves a superblock whose end of allocated space (EOA) lies before that
 * chunk: readers then refuse the table ("addr overflow"). The chunk itself was written
 * first, so the end of the file covers it; moving the EOA there (what h5clear --increment
 * does) makes the table whole again. Done at every open for writing, flushed with the run. */
static int repair_eoa(qs_h5 *h) {
    haddr_t eoa = 0;
    int fd = vfd_of(h->file);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || H5Fget_eoa(h->file, &eoa) < 0) {
        H5Eclear2(H5E_DEFAULT);
        return QS_OK; /* nothing known to repair */
    }
    if ((uint64_t)st.st_size <= (uint64_t)eoa) return QS_OK;
    if (H5Fincrement_filesize(h->file, 0) < 0)
        return qs__h5_fail(QS_ERR_IO, h, NULL,
                           "ends %llu bytes after its recorded end (a writer was killed in a "
                           "flush) and cannot be repaired",
                           (unsigned long long)((uint64_t)st.st_size - (uint64_t)eoa));
    return QS_OK;
}

/* Gives up a handle whose open failed midway. Nothing more may reach the file: freezing
 * first makes HDF5's closing writes land in the sink, and the close then succeeds, so no
 * half-closed file is left for HDF5's exit hook. A new file (still under its temporary
 * name `creating`) is removed. */
static void abandon(qs_h5 *h, const char *creating) {
    if (h->file >= 0) {
        qs__h5_freeze(h);
        if (h->run >= 0) H5Gclose(h->run);
        H5Fclose(h->file);
        h->file = -1;
    }
    if (creating) unlink(creating);
    H5Eclear2(H5E_DEFAULT);
}

/* Moves a new file from its temporary name to path, refusing to replace anything that
 * appeared there meanwhile (RENAME_NOREPLACE, or link + unlink where that is missing). */
static int place_new_file(const char *creating, const char *path) {
    if (renameat2(AT_FDCWD, creating, AT_FDCWD, path, RENAME_NOREPLACE) == 0) return QS_OK;
    if (errno == EINVAL || errno == ENOSYS) {
        if (link(creating, path) == 0) {
            unlink(creating);
            return QS_OK;
        }
    }
    return qs_error_set(QS_ERR_IO, "%s: cannot put the new results file in place: %s", path,
                        strerror(errno));
}

static void h5_free(qs_h5 *h) {
    qs__h5_lock_release(h);
    free(h->path);
    free(h);
}

int qs_h5_open(qs_h5 **out, const char *path, const char *run_label) {
    if (!out) return qs_error_set(QS_ERR_ARG, "qs_h5_open: out is NULL");
    *out = NULL;
    if (!path || !*path) return qs_error_set(QS_ERR_ARG, "qs_h5_open: empty results path");
    h5_init();

    qs_h5 *h = calloc(1, sizeof *h);
    if (!h) return qs_error_set(QS_ERR_NOMEM, "qs_h5_open: out of memory");
    h->file = h->run = -1;
    h->lock_fd = -1;
    h->path = strdup(path);
    if (!h->path) {
        free(h);
        return qs_error_set(QS_ERR_NOMEM, "qs_h5_open: out of memory");
    }
    qs_h5_now_iso(h->start_time);

    int rc = QS_OK;
    char *creating = NULL; /* a new file's temporary name until its first run is flushed */
    hid_t fapl = make_fapl();
    if (fapl < 0) rc = qs__h5_fail(QS_ERR_IO, h, NULL, "cannot make a file access list");
    struct stat st;
    char *tmp = rc ? NULL : strdup(path);
    if (rc) {
    } else if (!tmp) {
        rc = qs_error_set(QS_ERR_NOMEM, "qs_h5_open: out of memory");
    } else if (lstat(path, &st) != 0 && errno != ENOENT) {
        rc = qs_error_set(QS_ERR_IO, "%s: %s", path, strerror(errno));
    } else {
        /* the directory first: the writer lock lives there */
        const char *dir = dirname(tmp);
        struct stat ds;
        if (stat(dir, &ds) != 0)
            rc = qs_error_set(QS_ERR_IO, "%s: directory '%s' does not exist (create it first)",
                              path, dir);
        else if (!S_ISDIR(ds.st_mode))
            rc = qs_error_set(QS_ERR_IO, "%s: '%s' is not a directory", path, dir);
        else if (access(dir, W_OK) != 0)
            rc = qs_error_set(QS_ERR_IO, "%s: directory '%s' is not writable", path, dir);
    }
    free(tmp);
    /* one writer at a time, whatever HDF5_USE_FILE_LOCKING says; taken before the file is
     * looked at, so what is checked below cannot change under us */
    if (rc == QS_OK) rc = qs__h5_lock_take(h);
    if (rc) {
    } else if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            rc = qs_error_set(QS_ERR_ARG, "%s: is a directory, not a results file", path);
        else if (!S_ISREG(st.st_mode))
            rc = qs_error_set(QS_ERR_ARG, "%s: is not a regular file", path);
        else if (access(path, R_OK) != 0)
            rc = qs_error_set(QS_ERR_IO, "%s: cannot read it: %s", path, strerror(errno));
        /* root passes access(W_OK) on a 0444 file; honour the missing write bits anyway */
        else if (access(path, W_OK) != 0 || (st.st_mode & 0222) == 0)
            rc = qs_error_set(QS_ERR_IO,
                              "%s: is read-only; results are appended, so it must be "
                              "writable (or choose another path)",
                              path);
        else
            rc = check_existing(h, fapl);
        if (rc == QS_OK) rc = room_before_open(path);
        if (rc == QS_OK) {
            h->file = H5Fopen(path, H5F_ACC_RDWR, fapl);
            if (h->file < 0)
                rc = qs__h5_fail(QS_ERR_IO, h, NULL, "%s",
                                 qs__h5_err_locked() ? "is open in another program that holds "
                                                       "HDF5's file lock (close it there first)"
                                                     : "cannot open for appending");
        }
        if (rc == QS_OK) rc = repair_eoa(h);
    } else if (errno == ENOENT) {
        /* built under "<path>.creating" (ours while we hold the lock) and renamed once its
         * first run is flushed: a kill during creation leaves nothing that blocks the path */
        size_t n = strlen(path) + sizeof ".creating";
        creating = malloc(n);
        if (!creating)
            rc = qs_error_set(QS_ERR_NOMEM, "qs_h5_open: out of memory");
        else {
            snprintf(creating, n, "%s.creating", path);
            h->file = H5Fcreate(creating, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
            if (h->file < 0) rc = qs__h5_fail(QS_ERR_IO, h, NULL, "cannot create");
        }
    } else {
        rc = qs_error_set(QS_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (fapl >= 0) H5Pclose(fapl);

    /* the room for the new run is reserved before HDF5 writes a byte of it */
    if (rc == QS_OK) rc = qs__h5_room(h, 0, NULL);
    if (rc == QS_OK) rc = start_run(h, run_label);
    if (rc == QS_OK) rc = qs__h5_provenance_begin(h, run_label);
    if (rc == QS_OK) rc = qs__h5_flush(h, h->prefix);
    if (rc == QS_OK && creating) rc = place_new_file(creating, path);
    if (rc) {
        /* keep the first message; closing may add HDF5 errors of its own */
        abandon(h, creating);
        free(creating);
        h5_free(h);
        return rc;
    }
    free(creating);
    *out = h;
    return QS_OK;
}

int qs_h5_close(qs_h5 *h) {
    if (!h) return QS_OK;
    int rc = QS_OK;
    while (h->children) {
        qs__h5_child *c = h->children;
        h->children = c->next;
        c->release(c);
        c->next = NULL;
        c->h = NULL;
    }
    if (h->frozen)
        rc = qs_error_set(QS_ERR_IO,
                          "%s: closed after a failed write; it holds what was flushed before "
                          "the failure",
                          h->path);
    if (h->run >= 0 && !h->frozen) {
        /* end_time and the final flush are writes like any other: without room for them the
         * file keeps what was flushed last (every row) rather than risk a torn flush */
        rc = qs__h5_room(h, 0, h->prefix);
        if (rc == QS_OK) rc = qs__h5_provenance_end(h);
        if (rc) {
            qs_error_prefix(rc,
                            "%s: provenance end_time not recorded (every row appended "
                            "before is kept)",
                            h->path);
            qs__h5_freeze(h);
        }
    }
    if (h->run >= 0 && H5Gclose(h->run) < 0 && rc == QS_OK)
        rc = qs__h5_fail(QS_ERR_IO, h, h->prefix, "cannot close run group");
    if (h->file >= 0) {
        if (!h->frozen && H5Fflush(h->file, H5F_SCOPE_LOCAL) < 0) {
            rc = qs__h5_fail(QS_ERR_IO, h, NULL, "final flush failed");
            qs__h5_freeze(h);
        }
        if (H5Fclose(h->file) < 0 && rc == QS_OK)
            rc = qs__h5_fail(QS_ERR_IO, h, NULL, "cannot close");
    }
    H5Eclear2(H5E_DEFAULT);
    h5_free(h);
    return rc;
}
