#define _GNU_SOURCE
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

int qs_file_open_regular(const char *path, int *fd_out, size_t *size) {
    *fd_out = -1;
    /* O_NONBLOCK: opening a FIFO for reading would wait for a writer forever, before
     * fstat could tell what it is */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return qs_error_set(QS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return qs_error_set(QS_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return qs_error_set(QS_ERR_IO, "%s: is a directory, expected a file", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return qs_error_set(QS_ERR_IO, "%s: not a regular file (%s)", path,
                            S_ISFIFO(st.st_mode)   ? "a named pipe"
                            : S_ISCHR(st.st_mode)  ? "a character device"
                            : S_ISBLK(st.st_mode)  ? "a block device"
                            : S_ISSOCK(st.st_mode) ? "a socket"
                                                   : "not a file");
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl != -1) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *fd_out = fd;
    if (size) *size = (size_t)st.st_size;
    return QS_OK;
}

static int open_regular(const char *path, int *fd_out, size_t *size) {
    int rc = qs_file_open_regular(path, fd_out, size);
    if (rc) return rc;
    if (*size == 0) {
        close(*fd_out);
        *fd_out = -1;
        return qs_error_set(QS_ERR_FORMAT, "%s: file is empty", path);
    }
    return QS_OK;
}

/* ---- guarded mappings -------------------------------------------------------------------- */

#define MAP_SLOTS 64
typedef struct map_slot {
    void *volatile base; /* NULL: free */
    size_t size;
    volatile sig_atomic_t damaged;
    size_t bad_offset; /* first read that found no data */
    char path[512];
} map_slot;
static map_slot maps[MAP_SLOTS];
static struct sigaction old_bus;
static size_t page_size;

static void bus_handler(int sig, siginfo_t *si, void *uctx) {
    uintptr_t a = (uintptr_t)si->si_addr;
    for (int i = 0; i < MAP_SLOTS; i++) {
        uintptr_t b = (uintptr_t)maps[i].base;
        if (!b || a < b || a >= b + maps[i].size) continue;
        if (!maps[i].damaged) maps[i].bad_offset = a - b;
        maps[i].damaged = 1;
        /* zeros instead of the missing page; the faulting read then runs again and succeeds */
        void *page = (void *)(a & ~(uintptr_t)(page_size - 1));
        if (mmap(page, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                 -1, 0) != MAP_FAILED)
            return;
        break;
    }
    /* not one of ours (or it could not be patched): what would have happened without us */
    if ((old_bus.sa_flags & SA_SIGINFO) && old_bus.sa_sigaction) {
        old_bus.sa_sigaction(sig, si, uctx);
        return;
    }
    if (old_bus.sa_handler != SIG_DFL && old_bus.sa_handler != SIG_IGN && old_bus.sa_handler) {
        old_bus.sa_handler(sig);
        return;
    }
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGBUS, &dfl, NULL); /* the read runs again and dies of SIGBUS as usual */
}

static void map_register(void *base, size_t size, const char *path) {
    static int installed;
    if (!installed) {
        installed = 1;
        page_size = (size_t)sysconf(_SC_PAGESIZE);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = bus_handler;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGBUS, &sa, &old_bus);
    }
    for (int i = 0; i < MAP_SLOTS; i++)
        if (!maps[i].base) {
            maps[i].size = size;
            maps[i].damaged = 0;
            maps[i].bad_offset = 0;
            snprintf(maps[i].path, sizeof maps[i].path, "%s", path);
            maps[i].base = base; /* last: the handler only looks at slots with a base */
            return;
        }
    /* no free slot: the mapping works, only unguarded */
}

int qs_file_map(const char *path, void **map, size_t *size) {
    int fd;
    int rc = open_regular(path, &fd, size);
    if (rc) return rc;
    void *p = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED && e == ENOMEM)
        return qs_error_set(QS_ERR_NOMEM,
                            "%s: cannot map %.1f GiB read-only: %s (the address-space limit "
                            "(ulimit -v) or the memory left is smaller than the file)",
                            path, (double)*size / 1073741824.0, strerror(e));
    if (p == MAP_FAILED) return qs_error_set(QS_ERR_IO, "%s: cannot mmap: %s", path, strerror(e));
    map_register(p, *size, path);
    *map = p;
    return QS_OK;
}

void qs_file_unmap(void *map, size_t size) {
    if (!map) return;
    for (int i = 0; i < MAP_SLOTS; i++)
        if (maps[i].base == map) maps[i].base = NULL;
    munmap(map, size);
}

int qs_file_map_check(const void *map) {
    if (!map) return QS_OK;
    for (int i = 0; i < MAP_SLOTS; i++)
        if (maps[i].base == map && maps[i].damaged)
            return qs_error_set(QS_ERR_IO,
                                "%s: the file changed while in use (truncated: a read at byte %zu "
                                "found no data); what was computed from it is discarded",
                                maps[i].path, maps[i].bad_offset);
    return QS_OK;
}

int qs_file_read(const char *path, size_t max_size, char **data, size_t *size) {
    int fd;
    size_t n;
    int rc = open_regular(path, &fd, &n);
    if (rc) return rc;
    if (max_size && n > max_size) {
        close(fd);
        return qs_error_set(QS_ERR_FORMAT, "%s: file is %zu bytes, more than the %zu allowed", path,
                            n, max_size);
    }
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return qs_error_set(QS_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = errno;
            free(buf);
            close(fd);
            return qs_error_set(QS_ERR_IO, "%s: read failed at byte %zu: %s", path, got,
                                r == 0 ? "unexpected end of file" : strerror(e));
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    *size = n;
    return QS_OK;
}

int qs_path_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- whole-or-nothing output files ------------------------------------------------------ */

/* Temporary files still open, for the signal handler: fixed storage, since the handler may
 * run at any moment and may only make async-signal-safe calls (unlink, sigaction, raise). */
#define OUT_SLOTS 8
static char out_tmp[OUT_SLOTS][4096];
static volatile sig_atomic_t out_used[OUT_SLOTS];

void qs_file_out_remove_all(void) {
    for (int i = 0; i < OUT_SLOTS; i++)
        if (out_used[i]) unlink(out_tmp[i]);
}

static void out_signal(int sig) {
    qs_file_out_remove_all();
    struct sigaction sa; /* then die of it as if no handler had been there */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigaction(sig, &sa, NULL);
    raise(sig);
}

/* Installs the handler for the signals that normally end a run, where nobody else has one. */
static void out_handlers_install(void) {
    static int done;
    if (done) return;
    done = 1;
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL) continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = out_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

int qs_file_out_open(qs_file_out *o, const char *path) {
    memset(o, 0, sizeof *o);
    o->slot = -1;
    size_t n = strlen(path);
    o->path = strdup(path);
    o->tmp = malloc(n + sizeof ".tmpXXXXXX");
    if (!o->path || !o->tmp) {
        qs_file_out_abort(o);
        return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(o->tmp, n + sizeof ".tmpXXXXXX", "%s.tmpXXXXXX", path);
    if (n + sizeof ".tmpXXXXXX" > sizeof out_tmp[0]) {
        qs_file_out_abort(o);
        return qs_error_set(QS_ERR_ARG, "%s: path too long", path);
    }
    out_handlers_install();
    /* take a slot before the file exists, so a signal between the two cannot miss it */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    int fd = -1, e = 0;
    for (int i = 0; i < OUT_SLOTS && o->slot < 0; i++)
        if (!out_used[i]) o->slot = i;
    if (o->slot >= 0) {
        fd = mkstemp(o->tmp);
        e = errno;
        if (fd >= 0) {
            memcpy(out_tmp[o->slot], o->tmp, strlen(o->tmp) + 1);
            out_used[o->slot] = 1;
        } else {
            o->slot = -1;
        }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (fd < 0) {
        int rc = e ? qs_error_set(QS_ERR_IO, "%s: cannot create a file in its directory: %s", path,
                                  strerror(e))
                   : qs_error_set(QS_ERR_IO, "%s: too many output files open at once", path);
        free(o->tmp);
        o->tmp = NULL; /* nothing was created */
        qs_file_out_abort(o);
        return rc;
    }
    mode_t mask = umask(0); /* mkstemp makes 0600; give the file the usual permissions */
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0) { /* not fatal: the file is only more private */
    }
    o->f = fdopen(fd, "wb");
    if (!o->f) {
        int rc = qs_error_set(QS_ERR_IO, "%s: cannot open: %s", o->tmp, strerror(errno));
        close(fd);
        qs_file_out_abort(o);
        return rc;
    }
    return QS_OK;
}

static void out_release(qs_file_out *o) {
    if (o->slot >= 0) out_used[o->slot] = 0;
    o->slot = -1;
    free(o->tmp);
    free(o->path);
    o->tmp = o->path = NULL;
}

void qs_file_out_abort(qs_file_out *o) {
    if (o->f) fclose(o->f);
    o->f = NULL;
    if (o->tmp && o->slot >= 0) unlink(o->tmp);
    out_release(o);
}

int qs_file_out_commit(qs_file_out *o) {
    if (!o->f) return qs_error_set(QS_ERR_ARG, "qs_file_out_commit: not open");
    int rc = QS_OK;
    errno = 0;
    if (fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0)
        rc = qs_error_set(QS_ERR_IO, "%s: write failed: %s", o->path,
                          errno ? strerror(errno) : "an earlier write failed");
    if (fclose(o->f) != 0 && rc == QS_OK)
        rc = qs_error_set(QS_ERR_IO, "%s: write failed: %s", o->path, strerror(errno));
    o->f = NULL;
    if (rc == QS_OK && rename(o->tmp, o->path) != 0)
        rc = qs_error_set(QS_ERR_IO, "%s: cannot replace it: %s", o->path, strerror(errno));
    if (rc) unlink(o->tmp);
    out_release(o);
    return rc;
}
