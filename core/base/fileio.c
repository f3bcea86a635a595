#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

static int open_regular(const char *path, int *fd_out, size_t *size) {
    int fd = open(path, O_RDONLY);
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
        return qs_error_set(QS_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return qs_error_set(QS_ERR_FORMAT, "%s: file is empty", path);
    }
    *fd_out = fd;
    *size = (size_t)st.st_size;
    return QS_OK;
}

int qs_file_map(const char *path, void **map, size_t *size) {
    int fd;
    int rc = open_regular(path, &fd, size);
    if (rc) return rc;
    void *p = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return qs_error_set(QS_ERR_IO, "%s: cannot mmap: %s", path, strerror(e));
    *map = p;
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
