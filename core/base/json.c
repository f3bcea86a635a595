/* One JSON entry point (json.h). */
#include "json.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "utf8.h"

static int refuse(qs_json_error *err, int fault, size_t offset) {
    if (err) *err = (qs_json_error){fault, offset};
    return QS_ERR_FORMAT;
}

int qs_json_parse(cJSON **out, const char *json, size_t len, const char *path, qs_json_error *err) {
    *out = NULL;
    if (err) *err = (qs_json_error){0, 0};
    const char *nul = memchr(json, '\0', len);
    if (nul) {
        refuse(err, QS_JSON_NUL, (size_t)(nul - json));
        return qs_error_set(QS_ERR_FORMAT, "%s: NUL byte inside JSON", path);
    }
    size_t bad = qs_utf8_check((const unsigned char *)json, len);
    if (bad != len) {
        refuse(err, QS_JSON_UTF8, bad);
        return qs_error_set(QS_ERR_FORMAT, "%s: invalid UTF-8 at byte %zu", path, bad);
    }
    /* a bounded NUL-terminated copy: the parse cannot run past len and must consume all of
     * it (trailing whitespace allowed), so no trailing garbage slips through */
    char *copy = malloc(len + 1);
    if (!copy)
        return qs_error_set(QS_ERR_NOMEM, "%s: out of memory for %zu bytes of JSON", path, len);
    memcpy(copy, json, len);
    copy[len] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 1);
    size_t off = end && end >= copy ? (size_t)(end - copy) : 0;
    free(copy);
    if (!root) {
        refuse(err, QS_JSON_SYNTAX, off);
        return qs_error_set(QS_ERR_FORMAT, "%s: malformed JSON near byte %zu", path, off);
    }
    *out = root;
    return QS_OK;
}

int qs_json_read(cJSON **out, const char *path) {
    *out = NULL;
    char *buf;
    size_t len;
    int rc = qs_file_read(path, 0, &buf, &len);
    if (rc) return rc;
    rc = qs_json_parse(out, buf, len, path, NULL);
    free(buf);
    return rc;
}
