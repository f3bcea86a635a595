/* base/utf8 and base/json: the one UTF-8 module (validation, replacement, one code point
 * in and out) and the one JSON entry point (the faults it refuses, with their offsets). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "json.h"
#include "utf8.h"

static void test_code_points(void) {
    /* every code point a tokenizer writes decodes back, with the strict check agreeing */
    const int cps[] = {0,      0x41,   0x7F,   0x80,    0x7FF,   0x800,
                       0x2581, 0xFFFD, 0xFFFF, 0x10000, 0x10FFFF};
    for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
        char buf[4];
        int n = qs_utf8_encode(buf, cps[i]), cp = -2;
        CHECK_MSG(n == (cps[i] < 0x80      ? 1
                        : cps[i] < 0x800   ? 2
                        : cps[i] < 0x10000 ? 3
                                           : 4),
                  "U+%X: %d bytes", cps[i], n);
        CHECK(qs_utf8_seq_len((unsigned char)buf[0]) == n);
        CHECK(qs_utf8_decode(buf, (size_t)n, &cp) == n && cp == cps[i]);
        CHECK(qs_utf8_valid_prefix((const unsigned char *)buf, (size_t)n) == (size_t)n);
    }
    int cp;
    CHECK(qs_utf8_seq_len(0x80) == 1 && qs_utf8_seq_len(0xBF) == 1); /* continuation bytes */
    CHECK(qs_utf8_seq_len(0xF8) == 1 && qs_utf8_seq_len(0xFF) == 1); /* start no sequence */
    CHECK(qs_utf8_decode("\xFF", 1, &cp) == 1 && cp == -1);
    CHECK(qs_utf8_decode("\xE2\x96", 2, &cp) == 2);          /* cut short: the bytes there are */
    CHECK(qs_utf8_decode("\xE2x", 2, &cp) == 1 && cp == -1); /* not continued */
}

static void test_validation(void) {
    const unsigned char ok[] = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
    CHECK(qs_utf8_check(ok, sizeof ok - 1) == sizeof ok - 1);
    const char *bad[] = {"ab\xC0\xAF", "ab\xED\xA0\x80", "ab\xF4\x90\x80\x80", "ab\x80",
                         "ab\xE2\x82"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(qs_utf8_check((const unsigned char *)bad[i], strlen(bad[i])) == 2, "case %zu", i);
    char *out;
    size_t len, nrep;
    CHECK(qs_utf8_replace((const unsigned char *)"a\xFF"
                                                 "b",
                          3, &out, &len, &nrep) == QS_OK);
    CHECK(len == 5 && nrep == 1 &&
          memcmp(out,
                 "a\xEF\xBF\xBD"
                 "b",
                 5) == 0);
    free(out);
}

static void expect_fault(const char *json, size_t len, int fault, size_t offset, const char *msg) {
    cJSON *root = (cJSON *)1;
    qs_json_error e;
    int rc = qs_json_parse(&root, json, len, "x.json", &e);
    CHECK_MSG(rc == QS_ERR_FORMAT && !root && e.fault == fault && e.offset == offset &&
                  strstr(qs_error_message(), msg),
              "'%.*s': rc %d fault %d offset %zu '%s'", (int)len, json, rc, e.fault, e.offset,
              qs_error_message());
}

static void test_json(void) {
    cJSON *root;
    const char doc[] = "{\"a\": [1, 2], \"b\": \"\xC3\xA9\"}  \n";
    CHECK(qs_json_parse(&root, doc, sizeof doc - 1, "x.json", NULL) == QS_OK);
    CHECK(root && cJSON_GetArraySize(cJSON_GetObjectItem(root, "a")) == 2);
    cJSON_Delete(root);
    /* only the first len bytes count: the rest of the buffer is never read */
    CHECK(qs_json_parse(&root, "{}garbage", 2, "x.json", NULL) == QS_OK);
    cJSON_Delete(root);
    expect_fault("{\"a\"\0: 1}", 9, QS_JSON_NUL, 4, "x.json: NUL byte inside JSON");
    expect_fault("{\"a\xFF\": 1}", 9, QS_JSON_UTF8, 3, "x.json: invalid UTF-8 at byte 3");
    expect_fault("{\"a\": 1} x", 10, QS_JSON_SYNTAX, 9, "x.json: malformed JSON near byte 9");
    expect_fault("{\"a\": }", 7, QS_JSON_SYNTAX, 6, "malformed JSON near byte 6");
    CHECK(qs_json_read(&root, "/nonexistent/x.json") == QS_ERR_IO && !root);
}

int main(void) {
    test_code_points();
    test_validation();
    test_json();
    return check_summary("test_utf8");
}
