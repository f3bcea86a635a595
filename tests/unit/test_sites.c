/* Capture sites: the site widths and layer counts of a config, the row bound that dumps and
 * the sweep share, and the one layer-list grammar ("all", "0,2-4") with its canonical form,
 * as the command line, Lua and config names read it. */
#include <string.h>

#include "check.h"
#include "error.h"
#include "model.h"
#include "quant.h"
#include "sites.h"

/* parses s (bounded by max_layer, room for cap) and expects the layers want[0..n-1] */
static void expect_list(const char *s, int max_layer, int cap, const int *want, int n) {
    int got[64], k = -1;
    int rc = qs_layer_list_parse(s, max_layer, got, cap, &k);
    CHECK_MSG(rc == QS_OK && k == n && (n == 0 || memcmp(got, want, sizeof *want * (size_t)n) == 0),
              "'%s': rc %d, %d layers (%s)", s, rc, k, qs_error_message());
}

static void expect_bad(const char *s, int max_layer, int cap, const char *why) {
    int got[64], k;
    int rc = qs_layer_list_parse(s, max_layer, got, cap, &k);
    CHECK_MSG(rc == QS_ERR_ARG && strstr(qs_error_message(), why), "'%s': rc %d, '%s'", s, rc,
              qs_error_message());
}

static void test_layer_lists(void) {
    expect_list("all", 9, 64, NULL, 0);
    expect_list("3", 9, 64, (int[]){3}, 1);
    expect_list("0,2-4", 9, 64, (int[]){0, 2, 3, 4}, 4);
    expect_list("4-6,0,5,2-2", 9, 64, (int[]){0, 2, 4, 5, 6}, 5); /* sorted, distinct */
    expect_list("9", 9, 64, (int[]){9}, 1);
    expect_list("1,1,1,1,1,1", 9, 2, (int[]){1}, 1); /* repeats do not use room */
    expect_bad("", 9, 64, "bad layer list");
    expect_bad("1,,2", 9, 64, "bad layer list");
    expect_bad("-1", 9, 64, "bad layer list");
    expect_bad("4-2", 9, 64, "bad layer list");
    expect_bad("2-", 9, 64, "bad layer list");
    expect_bad("1,", 9, 64, "bad layer list");
    expect_bad("all,1", 9, 64, "bad layer list");
    expect_bad("0,10", 9, 64, "layer out of range: 10 > 9");
    expect_bad("99999999999999999999", QS_LAYER_MAX, 64, "layer out of range");
    expect_bad("0-8", 9, 4, "too many layers (at most 4)");

    char buf[64];
    int layers[] = {0, 2, 3, 4, 7, 8, 10, 11, 12, 13};
    CHECK(qs_layer_list_format(buf, sizeof buf, layers, 10) == QS_OK);
    CHECK_MSG(strcmp(buf, "0,2-4,7,8,10-13") == 0, "%s", buf);
    CHECK(qs_layer_list_format(buf, sizeof buf, layers, 0) == QS_OK && buf[0] == '\0');
    CHECK(qs_layer_list_format(buf, 5, layers, 10) == QS_ERR_ARG);
    /* the canonical form reads back as the same layers */
    int back[16], n = 0;
    CHECK(qs_layer_list_format(buf, sizeof buf, layers, 10) == QS_OK);
    CHECK(qs_layer_list_parse(buf, 20, back, 16, &n) == QS_OK && n == 10 &&
          memcmp(back, layers, sizeof layers) == 0);

    /* config names take the same grammar and print it canonically */
    qs_quant_config c;
    CHECK(qs_quant_config_parse(&c, "W8A8 layers:0,2-4") == QS_OK);
    CHECK(c.w.n_layers == 4 && c.w.layers[3] == 4 && c.a.n_layers == 4);
    CHECK(qs_quant_config_format(buf, sizeof buf, &c) == QS_OK);
    CHECK_MSG(strcmp(buf, "W8A8 per-token layers:0,2-4") == 0, "%s", buf);
    CHECK(qs_quant_config_parse(&c, "W8A8 layers:all") == QS_OK && c.w.n_layers == 0);
}

static void test_select(void) {
    qs_config cfg = {0};
    cfg.n_layers = 5;
    unsigned char sel[6];
    CHECK(qs_site_layers_select(&cfg, "all", sel) == QS_OK);
    CHECK(memcmp(sel, "\1\1\1\1\1\1", 6) == 0);
    CHECK(qs_site_layers_select(&cfg, "0,2-3,5", sel) == QS_OK);
    CHECK(memcmp(sel, "\1\0\1\1\0\1", 6) == 0);
    CHECK(qs_site_layers_select(&cfg, "6", sel) == QS_ERR_ARG);
    CHECK_MSG(strstr(qs_error_message(), "layers '6'") &&
                  strstr(qs_error_message(), "layer out of range: 6 > 5"),
              "%s", qs_error_message());
}

static void test_sites(void) {
    qs_config cfg = {0};
    cfg.dim = 64, cfg.hidden_dim = 172, cfg.n_layers = 5, cfg.n_heads = 8, cfg.head_dim = 6;
    CHECK(qs_site_width(&cfg, QS_SITE_RESID) == 64);
    CHECK(qs_site_width(&cfg, QS_SITE_ATTN_IN) == 64);
    CHECK(qs_site_width(&cfg, QS_SITE_FFN_IN) == 64);
    CHECK(qs_site_width(&cfg, QS_SITE_ATTN_O_IN) == 48); /* n_heads * head_dim, not dim */
    CHECK(qs_site_width(&cfg, QS_SITE_FFN_DOWN_IN) == 172);
    CHECK(qs_site_layers(&cfg, QS_SITE_RESID) == 6);
    CHECK(qs_site_layers(&cfg, QS_SITE_FFN_DOWN_IN) == 5);

    /* the first 300 rows of a site over windows of 128: 128, 128, 44, then nothing */
    long have = 0;
    int got[4];
    for (int i = 0; i < 4; i++) {
        got[i] = qs_site_rows_take(300, have, 128);
        have += got[i];
    }
    CHECK(got[0] == 128 && got[1] == 128 && got[2] == 44 && got[3] == 0 && have == 300);
    CHECK(qs_site_rows_take(10, 0, 3) == 3);
    CHECK(qs_site_rows_take(10, 12, 3) == 0);
}

int main(void) {
    test_layer_lists();
    test_select();
    test_sites();
    return check_summary("test_sites");
}
