#include "sha256.h"

#include "error.h"
#include "fileio.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <sha2.h>

static void digest_to_hex(const uint8_t d[SHA256_DIGEST_LENGTH], char hex[QS_SHA256_HEX_LEN + 1]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[QS_SHA256_HEX_LEN] = '\0';
}

void qs_sha256_mem(const void *data, size_t n, char hex[QS_SHA256_HEX_LEN + 1]) {
    SHA2_CTX ctx;
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256Init(&ctx);
    if (n) SHA256Update(&ctx, data, n);
    SHA256Final(d, &ctx);
    digest_to_hex(d, hex);
}

int qs_sha256_file(const char *path, char hex[QS_SHA256_HEX_LEN + 1]) {
    hex[0] = '\0';
    if (!path || !*path) return qs_error_set(QS_ERR_ARG, "sha256: empty file name");
    int fd;
    if (qs_file_open_regular(path, &fd, NULL)) return qs_error_prefix(QS_ERR_IO, "sha256");
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return qs_error_set(QS_ERR_IO, "sha256: cannot read '%s': %s", path, strerror(errno));
    }
    SHA2_CTX ctx;
    SHA256Init(&ctx);
    uint8_t buf[1 << 14];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) SHA256Update(&ctx, buf, got);
    int err = ferror(f) ? errno : 0;
    fclose(f);
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256Final(d, &ctx);
    if (err) return qs_error_set(QS_ERR_IO, "sha256: read error in '%s': %s", path, strerror(err));
    digest_to_hex(d, hex);
    return QS_OK;
}
