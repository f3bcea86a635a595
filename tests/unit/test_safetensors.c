/* safetensors reader: the shipped fixtures, exact dtype conversion, and every kind of bad
 * header built in memory (each checked for its error code and what its message names). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "fp16.h"
#include "fileio.h"
#include "hf_config.h"
#include "safetensors.h"

/* A file image: 8-byte length, header, then data_size bytes of pattern. */
static unsigned char *make_file(const char *header, size_t data_size, size_t *size) {
    size_t hl = strlen(header);
    *size = 8 + hl + data_size;
    unsigned char *b = malloc(*size);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    for (size_t i = 0; i < data_size; i++) b[8 + hl + i] = (unsigned char)(i * 7 + 1);
    return b;
}

/* Parses header+data and expects code; if want is given the message must contain it. */
static void expect(const char *header, size_t data_size, int code, const char *want) {
    size_t size;
    unsigned char *b = make_file(header, data_size, &size);
    qs_safetensors st;
    qs_error_clear();
    int rc = qs_safetensors_parse(&st, b, size, "mem.safetensors");
    CHECK_MSG(rc == code, "header %s: rc %d, want %d (%s)", header, rc, code, qs_error_message());
    if (want)
        CHECK_MSG(strstr(qs_error_message(), want) != NULL, "message '%s' lacks '%s'",
                  qs_error_message(), want);
    if (rc == QS_OK) {
        CHECK(st.n_tensors >= 0);
        qs_safetensors_free(&st);
    } else {
        CHECK(st.tensors == NULL && st.n_tensors == 0);
        CHECK(strstr(qs_error_message(), "mem.safetensors") != NULL);
    }
    free(b);
}

static void test_bad_headers(void) {
    /* well-formed baseline: 2 F32 (8 bytes) + 3 BF16 (6 bytes) */
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"BF16\",\"shape\":[3,1],\"data_offsets\":[8,14]}}",
           14, QS_OK, NULL);
    /* __metadata__ is allowed, with string values only */
    expect("{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_"
           "offsets\":[0,8]}}",
           8, QS_OK, NULL);
    expect("{\"__metadata__\":{\"n\":3},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,"
           "8]}}",
           8, QS_ERR_FORMAT, "__metadata__");
    /* trailing spaces (the usual padding) are fine */
    expect("{\"a\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[0,2]}}      ", 2, QS_OK, NULL);

    /* header length larger than the file */
    {
        size_t size;
        unsigned char *b = make_file("{}", 0, &size);
        b[0] = 200;
        qs_safetensors st;
        int rc = qs_safetensors_parse(&st, b, size, "mem.safetensors");
        CHECK(rc == QS_ERR_FORMAT);
        CHECK(strstr(qs_error_message(), "header length 200 is larger than the file") != NULL);
        b[0] = 0xff, b[7] = 0xff; /* near 2^64: must not wrap */
        CHECK(qs_safetensors_parse(&st, b, size, "mem.safetensors") == QS_ERR_FORMAT);
        CHECK(qs_safetensors_parse(&st, b, 5, "mem.safetensors") == QS_ERR_FORMAT);
        CHECK(strstr(qs_error_message(), "too short") != NULL);
        free(b);
    }
    /* malformed JSON, trailing garbage, not an object, NUL inside */
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, QS_ERR_FORMAT,
           "malformed JSON");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}x", 8, QS_ERR_FORMAT,
           "malformed JSON");
    expect("[1,2]", 0, QS_ERR_FORMAT, "not an object");
    {
        size_t size;
        unsigned char *b = make_file("{\"a\":1}  ", 0, &size);
        b[8 + 7] = 0;
        qs_safetensors st;
        CHECK(qs_safetensors_parse(&st, b, size, "mem.safetensors") == QS_ERR_FORMAT);
        CHECK(strstr(qs_error_message(), "NUL") != NULL);
        free(b);
    }
    /* dtype and shape disagree with the byte range */
    expect("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, QS_ERR_FORMAT,
           "tensor 'w': shape gives 3 elements × 4 bytes (F32) = 12 bytes, but data_offsets [0, 8] "
           "span 8 bytes");
    expect("{\"w\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,4]}}", 4, QS_ERR_FORMAT,
           "span 4 bytes");
    /* unsupported dtypes, known and unknown */
    expect("{\"pos\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
           QS_ERR_UNSUPPORTED, "unsupported dtype I64 for tensor 'pos'");
    expect("{\"q\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, QS_ERR_UNSUPPORTED,
           "unsupported dtype Q4 for tensor 'q'");
    /* overlapping tensors */
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
           12, QS_ERR_FORMAT, "tensors 'a' and 'b' overlap");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
           8, QS_ERR_FORMAT, "overlap");
    /* a gap between tensors, and unused bytes at the end */
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
           12, QS_ERR_FORMAT,
           "gap of 4 unused bytes in the data section at offset 4 (before tensor 'b')");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 6, QS_ERR_FORMAT,
           "gap of 2 unused bytes at the end of the data section");
    /* out of range, reversed, bad numbers, overflow */
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, QS_ERR_FORMAT,
           "run past the data section (4 bytes)");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 0, QS_ERR_FORMAT,
           "end before begin");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, QS_ERR_FORMAT,
           "shape[0]");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, QS_ERR_FORMAT,
           "shape[0]");
    expect(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,4]}}",
        4, QS_ERR_FORMAT, "overflows");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, QS_ERR_FORMAT,
           "data_offsets");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
           QS_ERR_FORMAT, "unexpected or repeated key 'x'");
    expect("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, QS_ERR_FORMAT, "no string 'dtype'");
    expect("{\"a\":[1]}", 0, QS_ERR_FORMAT, "not an object");
    /* the same name twice */
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
           8, QS_ERR_FORMAT, "'a' appears twice");
    /* empty tensors occupy nothing and are allowed anywhere */
    expect("{\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[4,4]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
           4, QS_OK, NULL);
}

static void test_conversions(void) {
    struct {
        uint16_t h;
        float f;
    } f16[] = {
        {0x3C00, 1.0f},
        {0xC000, -2.0f},
        {0x7BFF, 65504.0f},
        {0x0001, 5.9604644775390625e-8f},
        {0x03FF, 6.097555160522461e-5f},
        {0x0400, 6.103515625e-5f},
        {0x3555, 0.333251953125f},
        {0x0000, 0.0f},
    };
    for (size_t i = 0; i < sizeof f16 / sizeof f16[0]; i++)
        CHECK(qs_fp16_to_f32(f16[i].h) == f16[i].f);
    CHECK(signbit(qs_fp16_to_f32(0x8000)) && qs_fp16_to_f32(0x8000) == 0.0f);
    CHECK(isinf(qs_fp16_to_f32(0x7C00)) && qs_fp16_to_f32(0x7C00) > 0);
    CHECK(isinf(qs_fp16_to_f32(0xFC00)) && qs_fp16_to_f32(0xFC00) < 0);
    CHECK(isnan(qs_fp16_to_f32(0x7E00)));
    CHECK(qs_bf16_to_f32(0x3F80) == 1.0f);
    CHECK(qs_bf16_to_f32(0xC0A0) == -5.0f);
    CHECK(isnan(qs_bf16_to_f32(0x7FC0)));

    /* an F16 tensor placed at an odd offset, read through the table */
    const char *h = "{\"x\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[1,7]},"
                    "\"pad\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[7,9]},"
                    "\"u\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[9,13]},"
                    "\"p0\":{\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[0,0]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[13,17]}}";
    /* 1 byte would be a gap: give it to nothing → must fail; so use a 1-byte-less layout */
    expect(h, 17, QS_ERR_FORMAT, "gap of 1 unused bytes in the data section at offset 0");
    const char *h2 = "{\"x\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
                     "\"u\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[6,10]}}";
    size_t size;
    unsigned char *b = make_file(h2, 10, &size);
    unsigned char *d = b + 8 + strlen(h2);
    uint16_t vals[3] = {0x3C00, 0xC000, 0x0001};
    for (int i = 0; i < 3; i++) d[2 * i] = vals[i] & 0xff, d[2 * i + 1] = vals[i] >> 8;
    float u = 3.25f;
    memcpy(d + 6, &u, 4);
    qs_safetensors st;
    CHECK(qs_safetensors_parse(&st, b, size, "mem") == QS_OK);
    const qs_st_tensor *x = qs_safetensors_find(&st, "x"), *ut = qs_safetensors_find(&st, "u");
    CHECK(x && ut && !qs_safetensors_find(&st, "y"));
    if (x && ut) {
        float out[3], uo;
        qs_safetensors_to_f32(out, &st, x);
        CHECK(out[0] == 1.0f && out[1] == -2.0f && out[2] == 5.9604644775390625e-8f);
        CHECK(qs_safetensors_f32_view(&st, x) == NULL); /* not F32 */
        qs_safetensors_to_f32(&uo, &st, ut);
        CHECK(uo == 3.25f);
        float *v = qs_safetensors_f32_view(&st, ut);
        /* aligned or not depending on where malloc put b: either a correct view or NULL */
        if (v)
            CHECK(*v == 3.25f && ((uintptr_t)v & 3) == 0);
        else
            CHECK(((uintptr_t)(st.data + ut->begin) & 3) != 0);
    }
    qs_safetensors_free(&st);
    qs_safetensors_free(&st); /* twice is harmless */
    free(b);
}

/* Round-to-nearest-even float32 → bfloat16, computed here independently of the reader. */
static uint16_t bf16_rne(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

static void test_fixtures(void) {
    char *f32buf, *bfbuf;
    size_t f32n, bfn;
    CHECK(qs_file_read("tests/fixtures/hf-stories260K/model.safetensors", 0, &f32buf, &f32n) ==
          QS_OK);
    CHECK(qs_file_read("tests/fixtures/hf-stories260K-bf16/model.safetensors", 0, &bfbuf, &bfn) ==
          QS_OK);
    qs_safetensors a, b;
    CHECK(qs_safetensors_parse(&a, (unsigned char *)f32buf, f32n, "f32") == QS_OK);
    CHECK(qs_safetensors_parse(&b, (unsigned char *)bfbuf, bfn, "bf16") == QS_OK);
    CHECK(a.n_tensors == 47 && b.n_tensors == 47);
    CHECK(a.data - (unsigned char *)f32buf == 4904 && b.data - (unsigned char *)bfbuf == 4944);
    int64_t params = 0;
    for (int i = 0; i < a.n_tensors; i++) params += a.tensors[i].n_elems;
    CHECK(params == 260032);
    const qs_st_tensor *e = qs_safetensors_find(&a, "model.embed_tokens.weight");
    CHECK(e && e->dtype == QS_ST_F32 && e->n_dims == 2 && e->shape[0] == 512 && e->shape[1] == 64);
    const qs_st_tensor *dn = qs_safetensors_find(&a, "model.layers.4.mlp.down_proj.weight");
    CHECK(dn && dn->shape[0] == 64 && dn->shape[1] == 172);
    /* every bf16 value is the RNE rounding of the f32 one */
    long mismatches = 0, total = 0;
    for (int i = 0; i < a.n_tensors; i++) {
        const qs_st_tensor *ta = &a.tensors[i], *tb = qs_safetensors_find(&b, ta->name);
        if (!tb || tb->dtype != QS_ST_BF16 || tb->n_elems != ta->n_elems) {
            mismatches++;
            continue;
        }
        float *fa = malloc((size_t)ta->n_elems * 4), *fb = malloc((size_t)tb->n_elems * 4);
        qs_safetensors_to_f32(fa, &a, ta);
        qs_safetensors_to_f32(fb, &b, tb);
        float *view = qs_safetensors_f32_view(&a, ta);
        if (view && memcmp(view, fa, (size_t)ta->n_elems * 4) != 0) mismatches++;
        for (int64_t k = 0; k < ta->n_elems; k++, total++)
            if (qs_bf16_to_f32(bf16_rne(fa[k])) != fb[k]) mismatches++;
        free(fa);
        free(fb);
    }
    CHECK_MSG(mismatches == 0 && total == 260032, "%ld mismatches of %ld", mismatches, total);
    qs_safetensors_free(&a);
    qs_safetensors_free(&b);

    /* cheap fuzzing: flipped header bytes must give an error or a valid table, never a crash
     * (this is what the sanitizer build is for) */
    unsigned char *mut = malloc(f32n);
    uint32_t seed = 12345;
    int ok = 0, bad = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(mut, f32buf, f32n);
        for (int k = 0; k < 1 + it % 4; k++) {
            seed = seed * 1664525u + 1013904223u;
            size_t pos = (seed >> 8) % 4912;
            seed = seed * 1664525u + 1013904223u;
            mut[pos] = (unsigned char)(seed >> 24);
        }
        qs_safetensors st;
        if (qs_safetensors_parse(&st, mut, f32n, "fuzz") == QS_OK)
            ok++, qs_safetensors_free(&st);
        else
            bad++;
    }
    CHECK(ok + bad == 3000 && bad > 2000);
    free(mut);
    free(f32buf);
    free(bfbuf);
}

int main(void) {
    test_bad_headers();
    test_conversions();
    test_fixtures();
    return check_summary("test_safetensors");
}
