/* Config names: the field's names parse to the intended quantizers and print back exactly;
 * a table of names round-trips; bad input names the offending word. */
#include <string.h>

#include "check.h"
#include "error.h"
#include "quant.h"
#include "sites.h"

static int spec_equal(const qs_quant_spec *a, const qs_quant_spec *b) {
    return a->bits == b->bits && a->scheme == b->scheme && a->gran == b->gran &&
           a->group == b->group && a->clip == b->clip && a->percentile == b->percentile &&
           a->fp32_scales == b->fp32_scales;
}
static int side_equal(const qs_quant_side *a, const qs_quant_side *b) {
    return spec_equal(&a->spec, &b->spec) && a->is_static == b->is_static &&
           a->site_mask == b->site_mask && strcmp(a->sites, b->sites) == 0 &&
           a->n_layers == b->n_layers &&
           memcmp(a->layers, b->layers, (size_t)a->n_layers * sizeof a->layers[0]) == 0;
}

/* parse name, print it, expect `canon`; parse the canonical form again: same config */
static void round_trip(const char *name, const char *canon) {
    qs_quant_config c, c2;
    char buf[256];
    int rc = qs_quant_config_parse(&c, name);
    CHECK_MSG(rc == 0, "parse '%s': %s", name, qs_error_message());
    if (rc) return;
    rc = qs_quant_config_format(buf, sizeof buf, &c);
    CHECK_MSG(rc == 0 && strcmp(buf, canon) == 0, "'%s' printed as '%s', expected '%s' (%s)", name,
              rc ? "" : buf, canon, rc ? qs_error_message() : "");
    CHECK_MSG(qs_quant_config_parse(&c2, buf) == 0 && side_equal(&c.w, &c2.w) &&
                  side_equal(&c.a, &c2.a),
              "'%s' does not parse back to the same config", buf);
}

static void test_examples(void) {
    qs_quant_config c;
    /* W4A16 g128: 4-bit weights in groups of 128 along the input dimension */
    CHECK(qs_quant_config_parse(&c, "W4A16 g128") == 0);
    CHECK(c.w.spec.bits == 4 && c.w.spec.gran == QS_QUANT_GROUP && c.w.spec.group == 128 &&
          c.w.spec.scheme == QS_QUANT_SYMMETRIC && c.w.spec.clip == QS_QUANT_ABSMAX &&
          !c.w.spec.fp32_scales && c.a.spec.bits == 16);
    /* W8A8 per-token: per-channel weights, per-token dynamic activations */
    CHECK(qs_quant_config_parse(&c, "W8A8 per-token") == 0);
    CHECK(c.w.spec.gran == QS_QUANT_ROW && c.a.spec.gran == QS_QUANT_ROW && !c.a.is_static &&
          c.a.spec.bits == 8);
    CHECK(c.a.site_mask == (QS_SITE_BIT(QS_SITE_ATTN_IN) | QS_SITE_BIT(QS_SITE_ATTN_O_IN) |
                            QS_SITE_BIT(QS_SITE_FFN_IN) | QS_SITE_BIT(QS_SITE_FFN_DOWN_IN)));
    CHECK(qs_quant_config_parse(&c, "W8A8 per-tensor") == 0);
    CHECK(c.w.spec.gran == QS_QUANT_TENSOR && c.a.spec.gran == QS_QUANT_TENSOR);
    /* mse applies to both sides and makes the activations static */
    CHECK(qs_quant_config_parse(&c, "W4A8 g64 mse") == 0);
    CHECK(c.w.spec.gran == QS_QUANT_GROUP && c.w.spec.group == 64 &&
          c.a.spec.gran == QS_QUANT_ROW && c.w.spec.clip == QS_QUANT_MSE &&
          c.a.spec.clip == QS_QUANT_MSE && c.a.is_static);
    CHECK(qs_quant_config_parse(&c, "W6A16 per-channel affine") == 0);
    CHECK(c.w.spec.bits == 6 && c.w.spec.gran == QS_QUANT_ROW &&
          c.w.spec.scheme == QS_QUANT_AFFINE);
    CHECK(qs_quant_config_parse(&c, "W16A8 per-token percentile:99.9") == 0);
    CHECK(c.w.spec.bits == 16 && c.a.spec.clip == QS_QUANT_PERCENTILE &&
          c.a.spec.percentile == 99.9 && c.a.spec.gran == QS_QUANT_ROW);
    /* per-channel and gN fall to the activations when the weights are not quantized */
    CHECK(qs_quant_config_parse(&c, "W16A8 per-channel") == 0 && c.a.spec.gran == QS_QUANT_COL);
    CHECK(qs_quant_config_parse(&c, "W16A4 g32") == 0 && c.a.spec.gran == QS_QUANT_GROUP &&
          c.a.spec.group == 32);
    CHECK(qs_quant_config_parse(&c, "W8A8 a:per-channel") == 0 && c.a.spec.gran == QS_QUANT_COL &&
          c.w.spec.gran == QS_QUANT_ROW);
    /* sites and layers */
    CHECK(qs_quant_config_parse(&c, "W8A8 sites:ffn_down_in,attn_in layers:2,0,2") == 0);
    CHECK(c.a.site_mask == (QS_SITE_BIT(QS_SITE_ATTN_IN) | QS_SITE_BIT(QS_SITE_FFN_DOWN_IN)));
    CHECK(strcmp(c.a.sites, "attn_in,ffn_down_in") == 0);
    CHECK(c.w.n_layers == 2 && c.w.layers[0] == 0 && c.w.layers[1] == 2 && c.a.n_layers == 2);
    CHECK(qs_quant_side_has_layer(&c.a, 2) && !qs_quant_side_has_layer(&c.a, 1));
    CHECK(qs_quant_config_parse(&c, "W4A16") == 0 && qs_quant_side_has_layer(&c.w, 31) &&
          !qs_quant_side_has_layer(&c.a, 0));
}

static void test_round_trips(void) {
    static const char *const same[] = {
        "W4A16 g128",
        "W8A8 per-token",
        "W8A8 per-tensor",
        "W4A8 g64 mse",
        "W6A16 per-channel affine",
        "W16A8 per-token percentile:99.9",
        "W16A16",
        "W3A16 g32 affine mse fp32-scales",
        "W8A8 w:per-tensor",
        "W8A8 a:per-tensor",
        "W4A8 g128 a:per-tensor static",
        "W8A8 a:per-channel",
        "W4A8 g128 a:g64",
        "W4A4 g128 a:affine",
        "W4A8 g128 w:mse",
        "W8A8 per-token a:mse",
        "W8A8 per-token static",
        "W8A8 per-token w:percentile:99 a:percentile:99.99",
        "W8A8 per-token percentile:99.5",
        "W16A8 per-channel",
        "W16A4 g32 fp32-scales",
        "W8A8 per-token sites:attn_in,ffn_down_in",
        "W8A8 per-token layers:0,2",
        "W8A8 per-token w:layers:1 a:layers:0,3",
        "W2A16 per-channel",
        "W8A8 per-token a:fp32-scales",
        "W16A8 per-token sites:resid,attn_in,attn_o_in,ffn_in,ffn_down_in",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) round_trip(same[i], same[i]);
    /* non-canonical spellings and their canonical form */
    static const char *const pairs[][2] = {
        {"W8A8", "W8A8 per-token"},
        {"w4a16   g128", "W4A16 g128"},
        {"W4A16", "W4A16 per-channel"},
        {"W8A8 per-channel", "W8A8 per-token"},
        {"W8A8 symmetric absmax dynamic fp16-scales", "W8A8 per-token"},
        {"W8A8 w:per-tensor a:per-tensor", "W8A8 per-tensor"},
        {"W4A8 w:g64 w:mse a:mse", "W4A8 g64 mse"},
        {"W4A8 g64 mse static", "W4A8 g64 mse"},
        {"W8A8 a:affine", "W8A8 per-token a:affine"},
        {"W8A8 per-channel a:per-channel", "W8A8 a:per-channel"},
        {"W16A8 percentile:99.9 per-token", "W16A8 per-token percentile:99.9"},
        {"W8A8 layers:2,0,2", "W8A8 per-token layers:0,2"},
        {"W8A8 sites:ffn_down_in,attn_in", "W8A8 per-token sites:attn_in,ffn_down_in"},
        {"W8A8 sites:attn_in,attn_o_in,ffn_in,ffn_down_in", "W8A8 per-token"},
        {"W8A8 percentile:100", "W8A8 per-token percentile:100"},
        {"W8A8 a:per-token", "W8A8 per-token"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        round_trip(pairs[i][0], pairs[i][1]);
}

static void expect_error(const char *name, const char *msg) {
    qs_quant_config c;
    int rc = qs_quant_config_parse(&c, name);
    CHECK_MSG(rc == QS_ERR_ARG && strstr(qs_error_message(), msg) != NULL,
              "'%s': rc %d, message '%s', expected '%s'", name, rc, qs_error_message(), msg);
    CHECK(c.w.spec.bits == 16 && c.a.spec.bits == 16); /* left at the default */
}

static void test_formats(void) {
    static const char *const same[] = {
        "W4A4 mxfp4",
        "W4A16 nvfp4",
        "W16A8 fp8_e4m3 per-token",
        "W8A8 fp8_e5m2 per-token",
        "W8A8 mxfp8",
        "W6A6 mxfp6_e3m2",
        "W6A16 mxfp6_e2m3",
        "W8A16 mxfp8_e5m2",
        "W4A4 mxfp4 g64",
        "W4A4 mxfp4 per-channel",
        "W4A8 w:mxfp4 a:fp8_e4m3 per-token",
        "W8A8 fp8_e4m3 per-tensor",
        "W16A4 nvfp4 mse",
        "W8A16 fp8_e4m3 g128 fp32-scales",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) round_trip(same[i], same[i]);
    round_trip("W16A8 per-token fp8_e4m3", "W16A8 fp8_e4m3 per-token");
    round_trip("W4A4 g32 mxfp4", "W4A4 mxfp4");
    round_trip("w4a4 nvfp4 g16", "W4A4 nvfp4");
    qs_quant_config c;
    CHECK(qs_quant_config_parse(&c, "W4A4 mxfp4") == 0);
    CHECK(c.w.spec.scheme == QS_QUANT_MXFP4 && c.a.spec.scheme == QS_QUANT_MXFP4);
    CHECK(c.w.spec.gran == QS_QUANT_GROUP && c.w.spec.group == 32 && c.a.spec.group == 32);
    CHECK(qs_quant_config_parse(&c, "W4A16 nvfp4") == 0);
    CHECK(c.w.spec.group == 16 && c.a.spec.bits == 16);
    CHECK(qs_quant_config_parse(&c, "W16A8 fp8_e4m3 per-token") == 0);
    CHECK(c.a.spec.scheme == QS_QUANT_FP8_E4M3 && c.a.spec.gran == QS_QUANT_ROW);
    expect_error("W8A8 mxfp4", "4-bit elements");
    expect_error("W4A8 mxfp4", "activations have 8 bits");
    expect_error("W4A4 mxfp4 affine", "conflicts");
    expect_error("W4A4 mxfp4 fp32-scales", "scales are fixed");
    expect_error("W16A16 mxfp4", "no quantized side");
}

static void test_kv(void) {
    static const char *const same[] = {
        "W4A16 g128 KV4 per-token",
        "W16A16 KV8 per-token",
        "W16A16 KV4 per-channel-k",
        "W16A16 KV4 mxfp4",
        "W16A16 KV4 nvfp4",
        "W16A16 KV8 fp8_e4m3 per-token",
        "W8A8 per-token KV4 g32",
        "W16A16 KV4 per-channel",
        "W16A16 KV4 per-token affine",
        "W16A16 KV4 k:per-channel v:g8",
        "W16A16 KV8 per-token percentile:99.9",
        "W16A16 KV4 k:mxfp4 per-token",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) round_trip(same[i], same[i]);
    round_trip("W4A16 g128 KV4", "W4A16 g128 KV4 per-token");
    round_trip("W16A16 kv4 k:per-channel v:per-token", "W16A16 KV4 per-channel-k");
    round_trip("W16A16 KV16", "W16A16");
    qs_quant_config c;
    CHECK(qs_quant_config_parse(&c, "W4A16 g128 KV4 per-channel-k") == 0);
    CHECK(c.w.spec.bits == 4 && c.w.spec.group == 128 && c.a.spec.bits == 16);
    CHECK(c.kv.k.bits == 4 && c.kv.v.bits == 4 && c.kv.k.gran == QS_QUANT_COL &&
          c.kv.v.gran == QS_QUANT_ROW);
    CHECK(qs_quant_config_parse(&c, "W16A16 KV4 mxfp4") == 0);
    CHECK(c.kv.k.scheme == QS_QUANT_MXFP4 && c.kv.k.gran == QS_QUANT_GROUP && c.kv.k.group == 32);
    CHECK(qs_quant_config_parse(&c, "W8A8") == 0 && c.kv.k.bits == 16);
    expect_error("W16A16 KV4 mse", "not a KV-cache word");
    expect_error("W16A16 KV4 static", "not a KV-cache word");
    expect_error("W16A16 KV8 mxfp4", "4-bit elements");
    expect_error("W16A16 KV4 per-token g32", "conflicts");
    expect_error("W16A16 KV4 k:per-channel-k", "no prefix");
    expect_error("W16A16 KV9", "bits 9");
    expect_error("W16A16 KV16 per-token", "unquantized KV cache");
    expect_error("W16A16 KV4 frob", "unknown word");
    expect_error("W16A16 KVx", "unknown word");
}

static void test_errors(void) {
    expect_error("W4A16 g12x", "unknown word 'g12x' in config 'W4A16 g12x'");
    expect_error("W4A16 per-row", "unknown word 'per-row'");
    expect_error("W4A16 g", "unknown word 'g'");
    expect_error("W4A16 x:g128", "unknown word 'x:g128'");
    expect_error("W1A16", "bits 1 in 'W1A16'");
    expect_error("W17A16", "bits 17");
    expect_error("W4A32", "bits 32");
    expect_error("W12A16", "quantized sides take 2..8 bits");
    expect_error("W4A16 g0", "zero group size 'g0'");
    expect_error("W16A8 percentile:0", "percentile outside (0, 100] 'percentile:0'");
    expect_error("W16A8 percentile:100.5", "percentile outside");
    expect_error("W16A8 percentile:-3", "percentile outside");
    expect_error("W16A8 percentile:nan", "percentile outside");
    expect_error("W16A8 percentile:9x", "bad percentile 'percentile:9x'");
    expect_error("W16A8 percentile:", "bad percentile");
    expect_error("W4A16 per-token", "no quantized side for 'per-token'");
    expect_error("W4A16 static", "no quantized side for 'static'");
    expect_error("W16A16 affine", "no quantized side for 'affine'");
    expect_error("W16A16 g128", "no quantized side");
    expect_error("W8A8 w:per-token", "activations-only word 'w:per-token'");
    expect_error("W8A8 w:sites:attn_in", "activations-only word");
    expect_error("W4A16 a:g128", "unquantized activations (A16)");
    expect_error("W16A8 w:affine", "unquantized weights (W16)");
    expect_error("W8A8 per-tensor w:g128", "'w:g128' conflicts with 'per-tensor'");
    expect_error("W4A16 g128 g64", "'g64' conflicts with 'g128'");
    expect_error("W8A8 affine w:symmetric", "'w:symmetric' conflicts with 'affine'");
    expect_error("W8A8 a:mse dynamic", "'dynamic' conflicts with mse clipping of activations");
    expect_error("W8A8 sites:attn_in,bogus", "unknown site 'bogus'");
    expect_error("W8A8 sites:attn_in,bogus", "word 'sites:attn_in,bogus' in config");
    expect_error("W8A8 layers:1,,2", "bad layer list 'layers:1,,2'");
    expect_error("W8A8 layers:", "bad layer list");
    expect_error("W8A8 layers:-1", "bad layer list");
    expect_error("g128 W4A16", "expected W<bits>A<bits>, found 'g128'");
    expect_error("W4", "expected W<bits>A<bits>");
    expect_error("W4A16x", "expected W<bits>A<bits>");
    expect_error("", "empty config");
    expect_error("   ", "empty config");
}

static void test_format_limits(void) {
    qs_quant_config c;
    char buf[256];
    CHECK(qs_quant_config_parse(&c, "W4A16 g128") == 0);
    CHECK(qs_quant_config_format(buf, 5, &c) == QS_ERR_ARG &&
          strstr(qs_error_message(), "needs 11 bytes"));
    CHECK(qs_quant_config_format(buf, 11, &c) == 0 && strcmp(buf, "W4A16 g128") == 0);
    c.w.spec.gran = QS_QUANT_COL; /* per-column weights: no word for it */
    CHECK(qs_quant_config_format(buf, sizeof buf, &c) == QS_ERR_ARG);
    CHECK(qs_quant_config_parse(&c, "W8A8 a:mse") == 0);
    c.a.is_static = 0;
    CHECK(qs_quant_config_format(buf, sizeof buf, &c) == QS_ERR_ARG);
    c.a.is_static = 1;
    c.a.spec.bits = 11;
    CHECK(qs_quant_config_format(buf, sizeof buf, &c) == QS_ERR_ARG);
    /* the parsed specs drive the kernels as they are */
    CHECK(qs_quant_config_parse(&c, "W4A8 g64 mse") == 0);
    CHECK(qs_quant_spec_validate(&c.w.spec) == 0 && qs_quant_spec_validate(&c.a.spec) == 0);
    CHECK(qs_quant_bits_nominal(&c.w.spec, 64) == 4.25);
}

int main(void) {
    test_examples();
    test_round_trips();
    test_formats();
    test_kv();
    test_errors();
    test_format_limits();
    return check_summary("test_quant_config");
}
