/* GGUF parser: a hand-built file with every metadata type, the shipped fixtures, and
 * corrupted buffers (truncation at every byte, bad counts, lengths, offsets, types). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "gguf.h"
#include "dtype.h"
#include "gguf_dequant.h"
#include "gguf_build.h"

/* Positions of fields in the sample file, so tests can corrupt them. */
typedef struct sample {
    gb b;
    size_t at_version, at_n_tensors, at_n_kv;
    size_t at_key_i8;    /* first byte of the key text "t.i8" */
    size_t at_type_u8;   /* value type of "t.u8" */
    size_t at_bool;      /* the bool byte */
    size_t at_str_len;   /* length of the "t.str" value */
    size_t at_arr_n;     /* count of "t.arr_u32" */
    size_t at_align_val; /* value of general.alignment */
    size_t end_kv;       /* end of metadata = start of tensor infos */
    size_t at_a_ndims, at_a_ne0, at_a_ne1, at_a_type, at_a_offset;
    size_t at_b_name; /* first byte of the name text "b" */
    size_t at_b_offset;
    size_t end_infos, data_offset;
} sample;

#define N_KV 17

static void make_sample(sample *s) {
    memset(s, 0, sizeof *s);
    gb *b = &s->b;
    gb_bytes(b, "GGUF", 4);
    s->at_version = b->n;
    gb_u32(b, 3);
    s->at_n_tensors = b->n;
    gb_u64(b, 2);
    s->at_n_kv = b->n;
    gb_u64(b, N_KV);

    gb_kv_str(b, "general.architecture", "llama");
    gb_str(b, "t.u8");
    s->at_type_u8 = b->n;
    gb_u32(b, 0);
    gb_u8(b, 200);
    s->at_key_i8 = b->n + 8;
    gb_str(b, "t.i8");
    gb_u32(b, 1);
    gb_u8(b, (uint8_t)(int8_t)-5);
    gb_str(b, "t.u16");
    gb_u32(b, 2);
    gb_u16(b, 60000);
    gb_str(b, "t.i16");
    gb_u32(b, 3);
    gb_u16(b, (uint16_t)(int16_t)-30000);
    gb_kv_u32(b, "t.u32", 4000000000u);
    gb_str(b, "t.i32");
    gb_u32(b, 5);
    gb_u32(b, (uint32_t)(int32_t)-2000000000);
    gb_kv_f32(b, "t.f32", 1.5f);
    gb_str(b, "t.bool");
    gb_u32(b, 7);
    s->at_bool = b->n;
    gb_u8(b, 1);
    gb_str(b, "t.str");
    gb_u32(b, 8);
    s->at_str_len = b->n;
    gb_str(b, "h\xc3\xa9llo");
    gb_str(b, "t.u64");
    gb_u32(b, 10);
    gb_u64(b, (uint64_t)1 << 40);
    gb_str(b, "t.i64");
    gb_u32(b, 11);
    gb_u64(b, (uint64_t)(-((int64_t)1 << 40)));
    gb_str(b, "t.f64");
    gb_u32(b, 12);
    gb_f64(b, 0.1);
    gb_str(b, "t.arr_u32");
    gb_u32(b, 9);
    gb_u32(b, 4);
    s->at_arr_n = b->n;
    gb_u64(b, 3);
    gb_u32(b, 1);
    gb_u32(b, 2);
    gb_u32(b, 3);
    gb_str(b, "t.arr_str");
    gb_u32(b, 9);
    gb_u32(b, 8);
    gb_u64(b, 3);
    gb_str(b, "a");
    gb_str(b, "bc");
    gb_str(b, "");
    /* [[1, 2], [3]] as arrays of int32 */
    gb_str(b, "t.arr_nested");
    gb_u32(b, 9);
    gb_u32(b, 9);
    gb_u64(b, 2);
    gb_u32(b, 5);
    gb_u64(b, 2);
    gb_u32(b, 1);
    gb_u32(b, 2);
    gb_u32(b, 5);
    gb_u64(b, 1);
    gb_u32(b, 3);
    gb_str(b, "general.alignment");
    gb_u32(b, 4);
    s->at_align_val = b->n;
    gb_u32(b, 64);
    s->end_kv = b->n;

    /* tensor a: F32 (2 rows of 8) at 0; tensor b: one Q8_0 block at 64 */
    gb_str(b, "a");
    s->at_a_ndims = b->n;
    gb_u32(b, 2);
    s->at_a_ne0 = b->n;
    gb_u64(b, 8);
    s->at_a_ne1 = b->n;
    gb_u64(b, 2);
    s->at_a_type = b->n;
    gb_u32(b, 0);
    s->at_a_offset = b->n;
    gb_u64(b, 0);
    s->at_b_name = b->n + 8;
    gb_str(b, "b");
    gb_u32(b, 1);
    gb_u64(b, 32);
    gb_u32(b, 8);
    s->at_b_offset = b->n;
    gb_u64(b, 64);
    s->end_infos = b->n;
    gb_pad(b, 64);
    s->data_offset = b->n;
    for (int i = 0; i < 16; i++) gb_f32(b, (float)i - 4.0f);
    gb_u16(b, 0x3800); /* Q8_0 d = 0.5 */
    for (int i = 0; i < 32; i++) gb_u8(b, (uint8_t)(int8_t)(i - 16));
}

/* Parses a copy exactly `size` bytes long (so ASan sees any overread). */
static int parse_n(const uint8_t *p, size_t size, qs_gguf **g) {
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, p, size);
    int rc = qs_gguf_parse(g, copy, size, "t.gguf");
    if (*g) {
        /* the view points into copy: keep it until the caller frees g, so re-point at p */
        qs_gguf_free(*g);
        *g = NULL;
        rc = qs_gguf_parse(g, p, size, "t.gguf");
    }
    free(copy);
    return rc;
}

/* Expects parse to fail with `code` and a message containing `needle`. */
static void expect_fail(const gb *b, int code, const char *needle, const char *label) {
    qs_gguf *g = NULL;
    int rc = parse_n(b->p, b->n, &g);
    CHECK_MSG(rc == code, "%s: rc %d, expected %d (%s)", label, rc, code, qs_error_message());
    CHECK_MSG(strstr(qs_error_message(), needle) != NULL, "%s: message '%s' lacks '%s'", label,
              qs_error_message(), needle);
    CHECK_MSG(strstr(qs_error_message(), "t.gguf") != NULL, "%s: message '%s' lacks the file name",
              label, qs_error_message());
    CHECK(g == NULL);
    qs_gguf_free(g);
}

static void test_sample_values(void) {
    sample s;
    make_sample(&s);
    qs_gguf *g = NULL;
    int rc = parse_n(s.b.p, s.b.n, &g);
    CHECK_MSG(rc == QS_OK, "%s", qs_error_message());
    if (rc) return;
    CHECK(g->version == 3);
    CHECK(g->n_kv == N_KV);
    CHECK(g->n_tensors == 2);
    CHECK(g->alignment == 64);
    CHECK(g->data_offset == s.data_offset);
    CHECK(g->data_offset % 64 == 0);

    const qs_gguf_kv *kv = qs_gguf_find(g, "t.u8");
    CHECK(kv && kv->v.type == QS_GGUF_UINT8 && kv->v.num.u == 200);
    kv = qs_gguf_find(g, "t.i8");
    CHECK(kv && kv->v.type == QS_GGUF_INT8 && kv->v.num.i == -5);
    kv = qs_gguf_find(g, "t.u16");
    CHECK(kv && kv->v.num.u == 60000);
    kv = qs_gguf_find(g, "t.i16");
    CHECK(kv && kv->v.num.i == -30000);
    kv = qs_gguf_find(g, "t.u32");
    CHECK(kv && kv->v.num.u == 4000000000u);
    kv = qs_gguf_find(g, "t.i32");
    CHECK(kv && kv->v.num.i == -2000000000);
    kv = qs_gguf_find(g, "t.f32");
    CHECK(kv && kv->v.type == QS_GGUF_FLOAT32 && kv->v.num.f == 1.5);
    kv = qs_gguf_find(g, "t.bool");
    CHECK(kv && kv->v.type == QS_GGUF_BOOL && kv->v.num.u == 1);
    kv = qs_gguf_find(g, "t.u64");
    CHECK(kv && kv->v.num.u == ((uint64_t)1 << 40));
    kv = qs_gguf_find(g, "t.i64");
    CHECK(kv && kv->v.num.i == -((int64_t)1 << 40));
    kv = qs_gguf_find(g, "t.f64");
    CHECK(kv && kv->v.type == QS_GGUF_FLOAT64 && kv->v.num.f == 0.1);
    kv = qs_gguf_find(g, "t.arr_nested");
    CHECK(kv && kv->v.type == QS_GGUF_ARRAY && kv->v.arr_type == QS_GGUF_ARRAY && kv->v.arr_n == 2);
    CHECK(kv && kv->v.arr_bytes == (12 + 8) + (12 + 4));
    CHECK(qs_gguf_find(g, "nope") == NULL);

    qs_gguf_str str;
    CHECK(qs_gguf_get_str(g, "t.str", &str) == QS_OK && str.len == 6 &&
          memcmp(str.ptr, "h\xc3\xa9llo", 6) == 0);
    char arch[8];
    CHECK(qs_gguf_get_cstr(g, "general.architecture", arch, sizeof arch) == QS_OK &&
          strcmp(arch, "llama") == 0);
    CHECK(qs_gguf_get_cstr(g, "general.architecture", arch, 5) == QS_ERR_FORMAT);

    int64_t iv = 0;
    CHECK(qs_gguf_get_int(g, "t.u32", 0, INT64_MAX, &iv) == QS_OK && iv == 4000000000LL);
    CHECK(qs_gguf_get_int(g, "t.i16", -40000, 0, &iv) == QS_OK && iv == -30000);
    CHECK(qs_gguf_get_int(g, "t.u32", 0, INT32_MAX, &iv) == QS_ERR_FORMAT);
    CHECK(strstr(qs_error_message(), "'t.u32'") && strstr(qs_error_message(), "4000000000"));
    CHECK(qs_gguf_get_int(g, "t.str", 0, 10, &iv) == QS_ERR_FORMAT);
    CHECK(strstr(qs_error_message(), "type string"));
    CHECK(qs_gguf_get_int(g, "llama.block_count", 1, 1000, &iv) == QS_ERR_FORMAT);
    CHECK(strstr(qs_error_message(), "'llama.block_count' is missing"));
    iv = 77;
    CHECK(qs_gguf_get_int_opt(g, "absent", 0, 10, &iv) == QS_OK && iv == 77);
    double fv = 0;
    CHECK(qs_gguf_get_float_opt(g, "t.f32", &fv) == QS_OK && fv == 1.5);
    CHECK(qs_gguf_get_float_opt(g, "t.i8", &fv) == QS_OK && fv == -5.0);
    int bv = 0;
    CHECK(qs_gguf_get_bool_opt(g, "t.bool", &bv) == QS_OK && bv == 1);

    uint64_t n = 0;
    const uint8_t *data = NULL;
    CHECK(qs_gguf_get_array(g, "t.arr_u32", QS_GGUF_UINT32, &n, &data) == QS_OK && n == 3);
    CHECK(data && qs_gguf_rd_u32(data) == 1 && qs_gguf_rd_u32(data + 8) == 3);
    CHECK(qs_gguf_get_array(g, "t.arr_u32", QS_GGUF_FLOAT32, &n, &data) == QS_ERR_FORMAT);
    CHECK(strstr(qs_error_message(), "array of uint32"));
    qs_gguf_str strs[3];
    CHECK(qs_gguf_array_strings(g, "t.arr_str", strs, 3) == QS_OK);
    CHECK(strs[0].len == 1 && strs[0].ptr[0] == 'a');
    CHECK(strs[1].len == 2 && memcmp(strs[1].ptr, "bc", 2) == 0);
    CHECK(strs[2].len == 0);

    const qs_gguf_tensor *a = qs_gguf_find_tensor(g, "a"), *tb = qs_gguf_find_tensor(g, "b");
    CHECK(a && a->n_dims == 2 && a->ne[0] == 8 && a->ne[1] == 2 && a->ne[2] == 1 &&
          a->type == QS_GGML_F32);
    CHECK(a && a->n_elements == 16 && a->n_bytes == 64 && a->data == s.b.p + s.data_offset);
    CHECK(tb && tb->type == QS_GGML_Q8_0 && tb->n_bytes == 34 &&
          tb->data == s.b.p + s.data_offset + 64);
    CHECK(a && qs_gguf_rd_f32(a->data + 4 * 5) == 1.0f);
    qs_gguf_free(g);
    gb_free(&s.b);
}

static void test_truncation(void) {
    sample s;
    make_sample(&s);
    /* every prefix shorter than the whole file fails cleanly (ASan checks no overread) */
    int all_fail = 1, all_format = 1;
    for (size_t len = 0; len < s.b.n; len++) {
        qs_gguf *g = NULL;
        int rc = parse_n(s.b.p, len, &g);
        if (rc == QS_OK) {
            all_fail = 0;
            fprintf(stderr, "prefix of %zu bytes parsed\n", len);
        }
        if (rc != QS_ERR_FORMAT) all_format = 0;
        qs_gguf_free(g);
    }
    CHECK(all_fail);
    CHECK(all_format);
    /* at each section boundary, the message says what was cut */
    struct {
        size_t len;
        const char *needle;
    } cut[] = {
        {3, "not a GGUF file"},
        {4, "truncated at offset 4: header (version)"},
        {8, "header (n_tensors)"},
        {16, "header (n_kv)"},
        /* inside the metadata the counts already cannot fit in what is left */
        {24, "n_kv = 17 is impossible: the remaining 0 bytes"},
        {s.at_str_len + 4, "n_kv = 17 is impossible"},
        {s.end_kv, "name of tensor info 0"},
        {s.at_a_type, "tensor 'a' info"},
        {s.end_infos, "tensor 'a' data"},
        {s.data_offset + 10, "tensor 'a' data [offset"},
        {s.b.n - 1, "tensor 'b' data"},
    };
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        gb t = s.b;
        t.n = cut[i].len;
        char label[32];
        snprintf(label, sizeof label, "cut at %zu", cut[i].len);
        expect_fail(&t, QS_ERR_FORMAT, cut[i].needle, label);
    }
    gb_free(&s.b);
}

/* Truncations inside the real fixture's metadata, where the counts still fit. */
static void test_truncated_fixture(void) {
    FILE *f = fopen("tests/fixtures/stories260K.gguf", "rb");
    CHECK(f != NULL);
    if (!f) return;
    uint8_t *buf = malloc(1 << 21);
    size_t n = fread(buf, 1, 1 << 21, f);
    fclose(f);
    CHECK(n == 1185376);
    /* header 24 bytes; then key "tokenizer.ggml.tokens" (8 + 21), type 9, elem type 8, count 512 */
    size_t arr = 24 + 8 + 21 + 4 + 4 + 8;
    gb t = {buf, 2000, 0}; /* (counts fit from about 1874 bytes on) */
    expect_fail(&t, QS_ERR_FORMAT, "'tokenizer.ggml.tokens' at offset 57", "cut early in tokens");
    CHECK(strstr(qs_error_message(), "array of 512 string runs past end of file"));
    t.n = arr + 4900; /* the count fits now; one of the strings is cut */
    expect_fail(&t, QS_ERR_FORMAT, "'tokenizer.ggml.tokens'", "cut in tokens");
    t.n = 8000; /* in the scores or token types */
    expect_fail(&t, QS_ERR_FORMAT, "tokenizer.ggml.", "cut in scores");
    /* every prefix up to the end of the tensor infos fails cleanly */
    int ok = 1;
    for (size_t len = 0; len < 12000; len += 7) {
        qs_gguf *g = NULL;
        if (qs_gguf_parse(&g, buf, len, "t.gguf") != QS_ERR_FORMAT) ok = 0;
        qs_gguf_free(g);
    }
    CHECK(ok);
    free(buf);
}

static void test_corruptions(void) {
    sample s;
    make_sample(&s);
    gb *b = &s.b;
    uint8_t *orig = malloc(b->n);
    memcpy(orig, b->p, b->n);
#define RESET() memcpy(b->p, orig, b->n)

    gb_put_u32(b, s.at_version, 1);
    expect_fail(b, QS_ERR_UNSUPPORTED, "unsupported GGUF version 1", "version 1");
    gb_put_u32(b, s.at_version, 4);
    expect_fail(b, QS_ERR_UNSUPPORTED, "unsupported GGUF version 4", "version 4");
    gb_put_u32(b, s.at_version, 0x03000000u);
    expect_fail(b, QS_ERR_UNSUPPORTED, "big-endian", "big-endian");
    RESET();
    b->p[0] = 'X';
    expect_fail(b, QS_ERR_FORMAT, "not a GGUF file", "magic");
    RESET();

    gb_put_u64(b, s.at_n_kv, (uint64_t)1 << 60);
    expect_fail(b, QS_ERR_FORMAT, "n_kv = 1152921504606846976 is impossible", "huge n_kv");
    gb_put_u64(b, s.at_n_kv, UINT64_MAX);
    expect_fail(b, QS_ERR_FORMAT, "n_kv", "n_kv max");
    RESET();
    gb_put_u64(b, s.at_n_tensors, (uint64_t)1 << 40);
    expect_fail(b, QS_ERR_FORMAT, "n_tensors = 1099511627776 is impossible", "huge n_tensors");
    RESET();
    /* counts that fit alone but not together with the entries they imply */
    gb_put_u64(b, s.at_n_kv, (b->n - 24) / 14);
    gb_put_u64(b, s.at_n_tensors, (b->n - 24) / 33);
    expect_fail(b, QS_ERR_FORMAT, "cannot fit", "counts together");
    RESET();

    gb_put_u64(b, s.at_str_len, (uint64_t)1 << 62);
    expect_fail(b, QS_ERR_FORMAT, "'t.str' at offset", "string length");
    CHECK(strstr(qs_error_message(), "string length 4611686018427387904 runs past end of file"));
    RESET();
    gb_put_u64(b, s.at_arr_n, (uint64_t)1 << 61);
    expect_fail(b, QS_ERR_FORMAT, "'t.arr_u32' at offset", "array count");
    CHECK(strstr(qs_error_message(), "array of 2305843009213693952 uint32 runs past end of file"));
    RESET();
    gb_put_u32(b, s.at_type_u8, 13);
    expect_fail(b, QS_ERR_FORMAT, "'t.u8' at offset", "value type");
    CHECK(strstr(qs_error_message(), "unknown value type 13"));
    RESET();
    b->p[s.at_bool] = 2;
    expect_fail(b, QS_ERR_FORMAT, "bool byte is 2", "bool");
    RESET();
    b->p[s.at_key_i8 + 2] = 'u'; /* "t.i8" -> "t.u8" */
    expect_fail(b, QS_ERR_FORMAT, "duplicated metadata key 't.u8'", "duplicate key");
    RESET();
    gb_put_u32(b, s.at_align_val, 48);
    expect_fail(b, QS_ERR_FORMAT, "'general.alignment'", "alignment 48");
    CHECK(strstr(qs_error_message(), "48, not a power of two"));
    gb_put_u32(b, s.at_align_val, 0);
    expect_fail(b, QS_ERR_FORMAT, "not a power of two", "alignment 0");
    RESET();

    gb_put_u32(b, s.at_a_ndims, 5);
    expect_fail(b, QS_ERR_FORMAT, "tensor 'a'", "n_dims 5");
    CHECK(strstr(qs_error_message(), "n_dims = 5, expected 1 to 4"));
    gb_put_u32(b, s.at_a_ndims, 0);
    expect_fail(b, QS_ERR_FORMAT, "n_dims = 0", "n_dims 0");
    RESET();
    gb_put_u64(b, s.at_a_ne0, (uint64_t)1 << 40);
    gb_put_u64(b, s.at_a_ne1, (uint64_t)1 << 40);
    expect_fail(b, QS_ERR_FORMAT, "tensor 'a'", "dims product");
    CHECK(strstr(qs_error_message(), "dimensions overflow"));
    RESET();
    gb_put_u64(b, s.at_a_ne0, (uint64_t)1 << 62);
    gb_put_u64(b, s.at_a_ne1, 1);
    expect_fail(b, QS_ERR_FORMAT, "byte size overflows", "byte size");
    RESET();
    gb_put_u64(b, s.at_a_ne0, UINT64_MAX);
    expect_fail(b, QS_ERR_FORMAT, "dimensions overflow", "negative dim");
    RESET();
    gb_put_u32(b, s.at_a_type, 4); /* Q4_2: removed from ggml */
    expect_fail(b, QS_ERR_FORMAT, "tensor 'a'", "type 4");
    CHECK(strstr(qs_error_message(), "unknown tensor type 4"));
    gb_put_u32(b, s.at_a_type, 1000);
    expect_fail(b, QS_ERR_FORMAT, "unknown tensor type 1000", "type 1000");
    gb_put_u32(b, s.at_a_type, QS_GGML_Q8_0); /* rows of 8 cannot hold 32-value blocks */
    expect_fail(b, QS_ERR_FORMAT, "row length 8 is not a multiple of the Q8_0 block size 32",
                "row length");
    RESET();
    gb_put_u64(b, s.at_b_offset, (uint64_t)1 << 20);
    expect_fail(b, QS_ERR_FORMAT, "tensor 'b' data [offset", "offset past end");
    CHECK(strstr(qs_error_message(), "34 bytes] runs past end of file (size"));
    gb_put_u64(b, s.at_b_offset, UINT64_MAX - 63);
    expect_fail(b, QS_ERR_FORMAT, "runs past end of file", "offset near 2^64");
    gb_put_u64(b, s.at_b_offset, 65);
    expect_fail(b, QS_ERR_FORMAT, "data offset 65 is not a multiple of the alignment 64",
                "misaligned");
    RESET();
    b->p[s.at_b_name] = 'a';
    expect_fail(b, QS_ERR_FORMAT, "duplicated tensor name 'a'", "duplicate tensor");
    RESET();
    gb_free(b);
    free(orig);
#undef RESET
}

static void test_edge_files(void) {
    /* no tensors, no padding after the metadata: valid (vocab-only files look like this) */
    gb b = {0};
    gb_bytes(&b, "GGUF", 4);
    gb_u32(&b, 2);
    gb_u64(&b, 0);
    gb_u64(&b, 1);
    gb_kv_str(&b, "general.architecture", "llama");
    qs_gguf *g = NULL;
    int rc = parse_n(b.p, b.n, &g);
    CHECK_MSG(rc == QS_OK, "%s", qs_error_message());
    CHECK(g && g->version == 2 && g->n_tensors == 0 && g->alignment == 32);
    qs_gguf_free(g);
    gb_free(&b);

    /* arrays nested past the depth limit */
    gb_bytes(&b, "GGUF", 4);
    gb_u32(&b, 3);
    gb_u64(&b, 0);
    gb_u64(&b, 1);
    gb_str(&b, "deep");
    gb_u32(&b, 9);
    for (int d = 0; d < 10; d++) {
        gb_u32(&b, 9);
        gb_u64(&b, 1);
    }
    gb_u32(&b, 0);
    gb_u64(&b, 0);
    expect_fail(&b, QS_ERR_FORMAT, "nested deeper than", "depth");
    gb_free(&b);

    /* empty key, over-long tensor name */
    gb_bytes(&b, "GGUF", 4);
    gb_u32(&b, 3);
    gb_u64(&b, 0);
    gb_u64(&b, 1);
    gb_str(&b, "");
    gb_u32(&b, QS_GGUF_UINT16);
    gb_u16(&b, 0);
    expect_fail(&b, QS_ERR_FORMAT, "key is empty", "empty key");
    gb_free(&b);

    gb_bytes(&b, "GGUF", 4);
    gb_u32(&b, 3);
    gb_u64(&b, 1);
    gb_u64(&b, 0);
    char longname[80];
    memset(longname, 'x', 70);
    longname[70] = 0;
    uint64_t ne[1] = {4};
    gb_tensor_info(&b, longname, 1, ne, 0, 0);
    gb_pad(&b, 32);
    for (int i = 0; i < 4; i++) gb_f32(&b, 0);
    expect_fail(&b, QS_ERR_FORMAT, "longer than 63 bytes", "long name");
    gb_free(&b);

    /* a tensor of a known type qscope cannot dequantize still parses */
    gb_bytes(&b, "GGUF", 4);
    gb_u32(&b, 3);
    gb_u64(&b, 1);
    gb_u64(&b, 0);
    uint64_t ne2[1] = {256};
    gb_tensor_info(&b, "iq", 1, ne2, QS_GGML_IQ2_XXS, 0);
    gb_pad(&b, 32);
    for (int i = 0; i < 66; i++) gb_u8(&b, 0);
    rc = parse_n(b.p, b.n, &g);
    CHECK_MSG(rc == QS_OK, "%s", qs_error_message());
    if (g) {
        CHECK(g->tensors[0].n_bytes == 66);
        float y[256];
        CHECK(qs_gguf_dequant(y, g->tensors[0].data, g->tensors[0].type, 256, "iq") ==
              QS_ERR_UNSUPPORTED);
        CHECK(strstr(qs_error_message(), "IQ2_XXS"));
    }
    qs_gguf_free(g);
    gb_free(&b);
}

static void test_fixtures(void) {
    qs_gguf *g = NULL;
    int rc = qs_gguf_open(&g, "tests/fixtures/stories260K.gguf");
    CHECK_MSG(rc == QS_OK, "%s", qs_error_message());
    if (!rc) {
        CHECK(g->version == 3);
        CHECK(g->n_tensors == 48);
        CHECK(g->alignment == 32);
        CHECK(g->data_offset % 32 == 0);
        char arch[32];
        CHECK(qs_gguf_get_cstr(g, "general.architecture", arch, sizeof arch) == QS_OK &&
              !strcmp(arch, "llama"));
        int64_t v = 0;
        CHECK(qs_gguf_get_int(g, "llama.context_length", 1, 1 << 30, &v) == QS_OK && v == 128);
        CHECK(qs_gguf_get_int(g, "llama.embedding_length", 1, 1 << 30, &v) == QS_OK && v == 64);
        CHECK(qs_gguf_get_int(g, "llama.attention.head_count_kv", 1, 1 << 30, &v) == QS_OK &&
              v == 4);
        CHECK(qs_gguf_find(g, "llama.rope.freq_base") == NULL);
        uint64_t n = 0;
        const uint8_t *p;
        CHECK(qs_gguf_get_array(g, "tokenizer.ggml.tokens", QS_GGUF_STRING, &n, &p) == QS_OK &&
              n == 512);
        qs_gguf_str tok[4];
        CHECK(qs_gguf_array_strings(g, "tokenizer.ggml.tokens", tok, 4) == QS_OK);
        CHECK(tok[1].len == 3 && memcmp(tok[1].ptr, "<s>", 3) == 0);
        CHECK(tok[3].len == 6 && memcmp(tok[3].ptr, "<0x00>", 6) == 0);
        int n_f32 = 0;
        for (uint64_t i = 0; i < g->n_tensors; i++) n_f32 += g->tensors[i].type == QS_GGML_F32;
        CHECK(n_f32 == 48);
        const qs_gguf_tensor *t = qs_gguf_find_tensor(g, "token_embd.weight");
        CHECK(t && t->n_dims == 2 && t->ne[0] == 64 && t->ne[1] == 512 &&
              t->n_bytes == 64 * 512 * 4);
        t = qs_gguf_find_tensor(g, "blk.4.ffn_down.weight");
        CHECK(t && t->ne[0] == 172 && t->ne[1] == 64);
        qs_gguf_free(g);
    }
    rc = qs_gguf_open(&g, "tests/fixtures/stories260K-Q4_0.gguf");
    CHECK_MSG(rc == QS_OK, "%s", qs_error_message());
    if (!rc) {
        int counts[QS_GGML_TYPE_COUNT] = {0};
        for (uint64_t i = 0; i < g->n_tensors; i++) counts[g->tensors[i].type]++;
        /* from the tensor infos: 11 norms F32, 5 ffn_down F16, output Q8_0, the rest Q4_0 */
        CHECK(counts[QS_GGML_F32] == 11);
        CHECK(counts[QS_GGML_F16] == 5);
        CHECK(counts[QS_GGML_Q8_0] == 1);
        CHECK(counts[QS_GGML_Q4_0] == 31);
        const qs_gguf_tensor *t = qs_gguf_find_tensor(g, "token_embd.weight");
        CHECK(t && t->type == QS_GGML_Q4_0 && t->n_bytes == 2 * 18 * 512);
        CHECK(t && t->data == g->buf + g->data_offset + 35072);
        qs_gguf_free(g);
    }
    rc = qs_gguf_open(&g, "tests/fixtures/gpt2-bpe/ggml-vocab-gpt-2.gguf");
    CHECK_MSG(rc == QS_OK, "%s", qs_error_message());
    if (!rc) {
        uint64_t n = 0;
        const uint8_t *p;
        CHECK(qs_gguf_get_array(g, "tokenizer.ggml.tokens", QS_GGUF_STRING, &n, &p) == QS_OK &&
              n == 50257);
        CHECK(qs_gguf_get_array(g, "tokenizer.ggml.merges", QS_GGUF_STRING, &n, &p) == QS_OK &&
              n == 50000);
        qs_gguf_free(g);
    }
    rc = qs_gguf_open(&g, "tests/fixtures/no-such-file.gguf");
    CHECK(rc == QS_ERR_IO && strstr(qs_error_message(), "no-such-file.gguf"));
    rc = qs_gguf_open(&g, "data/models/stories260K.bin");
    CHECK(rc == QS_ERR_FORMAT && strstr(qs_error_message(), "not a GGUF file"));
}

int main(void) {
    test_sample_values();
    test_truncation();
    test_truncated_fixture();
    test_corruptions();
    test_edge_files();
    test_fixtures();
    return check_summary("test_gguf");
}
