/* qscope's own single-writer guard for a results file.
 *
 * HDF5 keeps a file's metadata in memory between flushes: two processes appending to one
 * file each write their own view, and one run's rows (or the /runs index itself) are lost.
 * HDF5's file locking would refuse the second writer, but it is commonly switched off
 * (HDF5_USE_FILE_LOCKING=FALSE, the usual setting on NFS and Lustre). So the store takes a
 * lock of its own, independent of that setting: flock() on "<results>.lock" beside the
 * file, held from qs_h5_open to qs_h5_close. The lock file records who holds it (pid,
 * host, start time, command line), so a refused writer can say who the other one is.
 *
 * The kernel drops the lock when its holder dies, even by SIGKILL: a stale lock file is
 * harmless and is simply locked again. On NFS, flock() is carried by the server's byte-range
 * locks, so the guard holds across machines only where NFS locking works (not with the
 * `nolock` or `local_lock=` mount options). Handles of one process on one file share its
 * lock. */
#define _GNU_SOURCE
#include "h5store_int.h"

#include "error.h"
#include "provenance.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* "pid 123 on host since 2024-01-01T00:00:00Z: qscope run x.lua out=r.h5" */
static void describe_self(char *buf, size_t cap) {
    char host[128] = "?", when[32], cmd[512] = "";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    qs_h5_now_iso(when);
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, cmd, sizeof cmd - 1);
        close(fd);
        if (n < 0) n = 0;
        cmd[n] = '\0';
        for (ssize_t i = 0; i + 1 < n; i++)
            if (cmd[i] == '\0') cmd[i] = ' '; /* argv is NUL-separated */
    }
    snprintf(buf, cap, "pid %ld on %s since %s: %s", (long)getpid(), host, when,
             cmd[0] ? cmd : "?");
}

/* What the lock file says about its holder, one line, for the refusal message. */
static void read_holder(int fd, char *buf, size_t cap) {
    ssize_t n = pread(fd, buf, cap - 1, 0);
    if (n < 0) n = 0;
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    if (!buf[0]) snprintf(buf, cap, "holder unknown");
}

/* Locks this process holds: a second handle on the same file in the same process shares
 * the lock (HDF5 shares one open file between them, so they cannot diverge; experiments
 * open two runs of one file at once). Not thread-safe, like the rest of the store. */
typedef struct held_lock {
    dev_t dev;
    ino_t ino;
    int fd;
    int refs;
} held_lock;
static held_lock held[32];

static held_lock *held_find(const struct stat *st) {
    for (size_t i = 0; i < sizeof held / sizeof held[0]; i++)
        if (held[i].refs && held[i].dev == st->st_dev && held[i].ino == st->st_ino) return &held[i];
    return NULL;
}

int qs__h5_lock_take(qs_h5 *h) {
    size_t n = strlen(h->path) + sizeof ".lock";
    h->lock_path = malloc(n);
    if (!h->lock_path) return qs_error_set(QS_ERR_NOMEM, "%s: out of memory", h->path);
    snprintf(h->lock_path, n, "%s.lock", h->path);
    /* The file at lock_path must be the one we lock: a holder that releases unlinks it, so
     * a lock taken on an inode that is no longer there is retaken on the new one. */
    for (int attempt = 0; attempt < 16; attempt++) {
        int fd = open(h->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
        if (fd < 0) {
            int e = errno;
            return qs_error_set(QS_ERR_IO,
                                "%s: cannot create its writer lock %s: %s (qscope locks a results "
                                "file while writing it, so the directory must be writable)",
                                h->path, h->lock_path, strerror(e));
        }
        struct stat fs, ps;
        if (fstat(fd, &fs) != 0 || !S_ISREG(fs.st_mode)) {
            close(fd);
            return qs_error_set(QS_ERR_IO, "%s: writer lock %s is not a regular file", h->path,
                                h->lock_path);
        }
        held_lock *mine = held_find(&fs);
        if (mine) { /* this process writes the file already: share its lock */
            close(fd);
            mine->refs++;
            h->lock_fd = mine->fd;
            return QS_OK;
        }
        held_lock *slot = NULL;
        for (size_t i = 0; i < sizeof held / sizeof held[0] && !slot; i++)
            if (!held[i].refs) slot = &held[i];
        if (!slot) {
            close(fd);
            return qs_error_set(QS_ERR_IO, "%s: too many results files open at once", h->path);
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            char who[600];
            read_holder(fd, who, sizeof who);
            close(fd);
            if (e == EWOULDBLOCK)
                return qs_error_set(QS_ERR_IO,
                                    "%s: another qscope is writing to it (%s); wait for it to "
                                    "finish or choose another results file",
                                    h->path, who);
            return qs_error_set(QS_ERR_IO, "%s: cannot lock %s: %s", h->path, h->lock_path,
                                strerror(e));
        }
        if (stat(h->lock_path, &ps) != 0 || ps.st_ino != fs.st_ino || ps.st_dev != fs.st_dev) {
            close(fd); /* released and unlinked by its holder meanwhile: lock the new one */
            continue;
        }
        char self[800];
        describe_self(self, sizeof self);
        size_t len = strlen(self);
        self[len++] = '\n';
        /* best effort: the lock itself is what keeps others out, the text only names us */
        if (ftruncate(fd, 0) != 0 || pwrite(fd, self, len, 0) != (ssize_t)len) errno = 0;
        *slot = (held_lock){fs.st_dev, fs.st_ino, fd, 1};
        h->lock_fd = fd;
        return QS_OK;
    }
    return qs_error_set(QS_ERR_IO, "%s: could not take its writer lock %s (it keeps changing)",
                        h->path, h->lock_path);
}

void qs__h5_lock_release(qs_h5 *h) {
    if (h->lock_fd >= 0) {
        held_lock *mine = NULL;
        for (size_t i = 0; i < sizeof held / sizeof held[0] && !mine; i++)
            if (held[i].refs && held[i].fd == h->lock_fd) mine = &held[i];
        if (!mine || --mine->refs == 0) {
            /* unlink first: whoever opens the path next creates a fresh file and locks that */
            unlink(h->lock_path);
            close(h->lock_fd);
        }
        h->lock_fd = -1;
    }
    free(h->lock_path);
    h->lock_path = NULL;
}
