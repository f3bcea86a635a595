/* SHA-256 of files and memory, as lowercase hex (what `sha256sum` prints), for provenance.
 * Backed by libmd (<sha2.h>). */
#ifndef QS_SHA256_H
#define QS_SHA256_H

#include <stddef.h>

#define QS_SHA256_HEX_LEN 64

/* hex receives 64 lowercase hex digits and a NUL. Returns QS_OK, or QS_ERR_IO naming the
 * file (missing, unreadable, a directory). hex is "" on failure. */
int qs_sha256_file(const char *path, char hex[QS_SHA256_HEX_LEN + 1]);

/* Same for n bytes at data (data may be NULL when n is 0). Cannot fail. */
void qs_sha256_mem(const void *data, size_t n, char hex[QS_SHA256_HEX_LEN + 1]);

#endif
