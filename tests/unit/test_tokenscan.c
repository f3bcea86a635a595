/* analysis/tokenscan and select: exact medians by quickselect against a full sort on
 * adversarial inputs, hand-computed rows, fast == _ref bit for bit, thread determinism,
 * all-zero rows, non-finite inputs. `--dump DIR` writes a synthetic window and its scan. */
#include <omp.h>
#include <string.h>

#include "analysis_synth.h"
#include "check.h"
#include "error.h"
#include "select.h"
#include "tokenscan.h"

enum { W = 4, TW = 256, C = 61 }; /* odd C here; even C covered in test_select */

static void test_select(void) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 7);
    float v[1001], s1[1001], s2[1001];
    int bad = 0, cases = 0;
    for (int n = 1; n <= 1001; n += (n < 40 ? 1 : 97)) {
        for (int pattern = 0; pattern < 7; pattern++) {
            for (int i = 0; i < n; i++) {
                double u = gsl_ran_tdist(r, 2.0);
                switch (pattern) {
                case 0: v[i] = (float)u; break;                               /* random */
                case 1: v[i] = (float)i; break;                               /* sorted */
                case 2: v[i] = (float)(n - i); break;                         /* reversed */
                case 3: v[i] = 2.5f; break;                                   /* all equal */
                case 4: v[i] = (float)(i < n / 2 ? i : n - i); break;         /* organ pipe */
                case 5: v[i] = (float)(gsl_rng_uniform_int(r, 3)) - 1; break; /* -1, 0, 1 */
                case 6: v[i] = i % 3 ? 0.0f : (float)u; break;                /* mostly zeros */
                }
            }
            double a = qs_select_median_abs(s1, v, n);
            double b = qs_select_median_abs_ref(s2, v, n);
            cases++;
            if (a != b) {
                bad++;
                fprintf(stderr, "n=%d pattern=%d: %.9g vs %.9g\n", n, pattern, a, b);
            }
        }
    }
    CHECK_MSG(bad == 0, "%d of %d medians differ from the sort", bad, cases);
    gsl_rng_free(r);
    /* hand: odd, even (mean of the middle two, in double), signs ignored */
    const float odd[5] = {-5, 1, 3, -2, 4};   /* |.| sorted 1 2 3 4 5 */
    const float even[4] = {-1, 8, 3, 2};      /* 1 2 3 8 -> 2.5 */
    const float big[2] = {16777216.0f, 1.0f}; /* the float sum would round; double does not */
    CHECK(qs_select_median_abs(s1, odd, 5) == 3.0);
    CHECK(qs_select_median_abs(s1, even, 4) == 2.5);
    CHECK(qs_select_median_abs(s1, big, 2) == 8388608.5);
    CHECK(qs_select_median_abs(s1, odd, 1) == 5.0);
    /* kth on its own */
    float a[6] = {5, 3, 9, 1, 7, 3};
    qs_select_kth(a, 6, 2);
    CHECK(a[2] == 3.0f && a[0] <= 3 && a[1] <= 3 && a[3] >= 3 && a[4] >= 3 && a[5] >= 3);
}

static void test_hand(void) {
    const float x[3 * 4] = {
        1, -9, 3,    9,  /* absmax 9 first at c1 (ties: lowest index), value -9; median 6 */
        0, 0,  0,    0,  /* all zero: absmax 0 at c0, median 0 */
        0, 0,  0.5f, -2, /* median 0.25 */
    };
    qs_token_stat s[3];
    CHECK(qs_tokenscan(s, x, 3, 4) == QS_OK);
    CHECK(s[0].absmax == 9.0f && s[0].channel == 1 && s[0].value == -9.0f);
    CHECK(s[0].median_abs == 6.0);
    CHECK(s[1].absmax == 0.0f && s[1].channel == 0 && s[1].value == 0.0f && s[1].median_abs == 0.0);
    CHECK(s[2].absmax == 2.0f && s[2].channel == 3 && s[2].value == -2.0f);
    CHECK(s[2].median_abs == 0.25);
}

static void test_fast_vs_ref_threads(const float *x) {
    static qs_token_stat a[W * TW], b[W * TW], c[W * TW];
    memset(a, 0, sizeof a); /* padding bytes too, for memcmp */
    memset(b, 0, sizeof b);
    memset(c, 0, sizeof c);
    int saved = omp_get_max_threads();
    CHECK(qs_tokenscan_ref(a, x, W * TW, C) == QS_OK);
    omp_set_num_threads(1);
    CHECK(qs_tokenscan(b, x, W * TW, C) == QS_OK);
    omp_set_num_threads(3);
    CHECK(qs_tokenscan(c, x, W * TW, C) == QS_OK);
    omp_set_num_threads(saved);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) == 0);
    /* the planted massive tokens hold the row maxima */
    for (int i = 0; i < SYN_N_MASSIVE; i++) {
        const qs_token_stat *s = &a[syn_massive_row[i]];
        CHECK(s->channel == SYN_MASSIVE_CH && s->value == syn_massive_val[i]);
    }
    /* an independent check of absmax/argmax on every row */
    int ok = 1;
    for (int t = 0; t < W * TW; t++) {
        int arg = 0;
        for (int cc = 1; cc < C; cc++)
            if (fabsf(x[(size_t)t * C + cc]) > fabsf(x[(size_t)t * C + arg])) arg = cc;
        ok &= a[t].channel == arg && a[t].absmax == fabsf(x[(size_t)t * C + arg]);
    }
    CHECK(ok);
}

static void test_errors(float *x) {
    qs_token_stat s[4];
    float keep = x[2 * C + 7];
    x[2 * C + 7] = NAN;
    s[0].absmax = -1.0f;
    CHECK(qs_tokenscan(s, x, 4, C) == QS_ERR_NUMERIC);
    CHECK_MSG(strstr(qs_error_message(), "t=2, c=7") != NULL, "message: %s", qs_error_message());
    CHECK(s[0].absmax == -1.0f); /* untouched on error */
    CHECK(qs_tokenscan_ref(s, x, 4, C) == QS_ERR_NUMERIC);
    x[2 * C + 7] = keep;
    CHECK(qs_tokenscan(s, x, 0, C) == QS_ERR_ARG);
    CHECK(qs_tokenscan(s, x, 4, 0) == QS_ERR_ARG);
    CHECK(qs_tokenscan(NULL, x, 4, C) == QS_ERR_ARG);
}

static int dump(const char *dir, const float *x) {
    if (syn_mkdir(dir)) return 1;
    const int T = W * TW;
    static qs_token_stat s[W * TW];
    if (qs_tokenscan(s, x, T, C) != QS_OK) return 1;
    static float absmax[W * TW], value[W * TW];
    static int32_t channel[W * TW];
    static double median[W * TW];
    for (int t = 0; t < T; t++) {
        absmax[t] = s[t].absmax;
        value[t] = s[t].value;
        channel[t] = s[t].channel;
        median[t] = s[t].median_abs;
    }
    char meta[64];
    int len = snprintf(meta, sizeof meta, "T %d\nC %d\n", T, C);
    int bad = syn_write(dir, "meta.txt", meta, (size_t)len);
    bad |= syn_write(dir, "x.f32", x, sizeof(float) * T * C);
    bad |= syn_write(dir, "absmax.f32", absmax, sizeof absmax);
    bad |= syn_write(dir, "value.f32", value, sizeof value);
    bad |= syn_write(dir, "channel.i32", channel, sizeof channel);
    bad |= syn_write(dir, "median.f64", median, sizeof median);
    return bad;
}

int main(int argc, char **argv) {
    static float x[W * TW * C];
    syn_fill(x, W, TW, C, 99);
    memset(x + 5 * C, 0, sizeof(float) * C); /* an all-zero token */
    const char *dir = syn_dump_dir(argc, argv);
    if (dir) return dump(dir, x);
    qs_error_clear();
    test_select();
    test_hand();
    test_fast_vs_ref_threads(x);
    test_errors(x);
    return check_summary("test_tokenscan");
}
