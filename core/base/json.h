/* JSON documents, one entry point: every file qscope reads as JSON (config.json,
 * tokenizer.json, vocab.json, a safetensors header, a shard index) is parsed here, with
 * cJSON, under the same rules: valid UTF-8 (RFC 8259; cJSON would pass other bytes through
 * into names), no NUL byte, exactly one value with nothing but whitespace after it. */
#ifndef QS_JSON_H
#define QS_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* What was wrong with a refused document, for callers that word their own message. */
enum qs_json_fault { QS_JSON_NUL = 1, QS_JSON_UTF8, QS_JSON_SYNTAX };
typedef struct qs_json_error {
    int fault;     /* enum qs_json_fault; 0 when the error was not the document's */
    size_t offset; /* byte of json where it was found */
} qs_json_error;

/* Parses json[0..len) (need not be NUL-terminated) into *out (free with cJSON_Delete).
 * Errors: QS_ERR_FORMAT, the message naming path and the byte: "<path>: NUL byte inside
 * JSON", "<path>: invalid UTF-8 at byte N", "<path>: malformed JSON near byte N";
 * QS_ERR_NOMEM. err (may be NULL) receives the fault and offset. *out is NULL on error. */
int qs_json_parse(cJSON **out, const char *json, size_t len, const char *path, qs_json_error *err);

/* Reads the file at path (fileio.h) and parses it with qs_json_parse. */
int qs_json_read(cJSON **out, const char *path);

#endif
