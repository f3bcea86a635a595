/* analysis/ fast kernels against their scalar _ref versions on adversarial inputs, on every
 * path this CPU runs up to QS_CPU_PATH (scalar, AVX2, AVX-512; qs_cpu_path_set): every
 * width class of the 8- and 16-lane kernels (C below, at and above multiples of 8 and 16,
 * around the 16 and 64 keys where selection changes its rounds and ranks the rest), rows of
 * ties, zeros, subnormals and huge values, values one float step either side of the outlier
 * threshold tau·median and of every histogram edge. Every result agrees bit for bit, the
 * whole-tensor moments too (every path sums the same 16 lanes in the same order). A CPU
 * without AVX-512 tests the paths it has; the same test covers AVX-512 on one with it. */
#include <float.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "analysis_synth.h"
#include "chanstats.h"
#include "check.h"
#include "cpu.h"
#include "error.h"
#include "tensorstats.h"
#include "tokenscan.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double unif(void) { return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0); }
static double gauss(void) {
    return sqrt(-2.0 * log(unif() + 1e-300)) * cos(6.283185307179586 * unif());
}

enum { N_PATTERNS = 9 };

/* One value of pattern p at flat index i of a row of width C. */
static float value(int p, int i, int C) {
    double g = gauss();
    switch (p) {
    case 0: return (float)g;
    case 1: return (float)(rnd() % 3) - 1.0f;                   /* -1, 0, 1: ties */
    case 2: return rnd() % 4 ? 0.0f : (float)g;                 /* mostly zeros */
    case 3: return -2.5f;                                       /* all equal */
    case 4: return (float)(i % C);                              /* sorted */
    case 5: return (float)(g * 1e-40);                          /* subnormals */
    case 6: return (float)((C - i % C) * (rnd() & 1 ? -1 : 1)); /* reversed, signs */
    case 7: return (float)(g * g * g * 1e3);                    /* heavy tails */
    default: return (float)(g * 1e36);                          /* near FLT_MAX */
    }
}

static void fill(float *x, int T, int C, int p) {
    for (int i = 0; i < T * C; i++) x[i] = value(p, i, C);
}

static const int widths[] = {1,  2,  3,  7,   8,   9,   15,  16,   17,   24,   31,   33,
                             63, 64, 65, 100, 127, 129, 255, 1000, 2047, 2048, 2049, 5504};
#define N_WIDTHS ((int)(sizeof widths / sizeof *widths))

/* The paths this CPU runs, lowest first; each test computes the reference once and runs
 * the fast kernel on every one. */
static int n_paths;
static int paths[3];

/* T = 7 and 19: rows of up to 64 take their medians 8 rows at a time (median_net.c), so
 * one part-filled group and two whole ones with a tail. */
static void test_tokenscan(void) {
    int bad = 0, rows = 0;
    for (int T = 7; T <= 19; T += 12)
        for (int wi = 0; wi < N_WIDTHS; wi++)
            for (int p = 0; p < N_PATTERNS; p++) {
                const int C = widths[wi];
                float *x = malloc(sizeof(float) * T * C);
                qs_token_stat *a = calloc(T, sizeof *a), *b = calloc(T, sizeof *b);
                fill(x, T, C, p);
                CHECK(qs_tokenscan_ref(b, x, T, C) == QS_OK);
                for (int pi = 0; pi < n_paths; pi++) {
                    qs_cpu_path_set(paths[pi]);
                    CHECK(qs_tokenscan(a, x, T, C) == QS_OK);
                    for (int t = 0; t < T; t++, rows++)
                        if (memcmp(&a[t].absmax, &b[t].absmax, 4) ||
                            memcmp(&a[t].value, &b[t].value, 4) || a[t].channel != b[t].channel ||
                            memcmp(&a[t].median_abs, &b[t].median_abs, 8)) {
                            if (bad++ < 5)
                                fprintf(stderr,
                                        "%s C=%d pattern %d t=%d: median %.9g vs %.9g, channel %d "
                                        "vs %d\n",
                                        qs_cpu_path_name(paths[pi]), C, p, t, a[t].median_abs,
                                        b[t].median_abs, a[t].channel, b[t].channel);
                        }
                }
                free(x);
                free(a);
                free(b);
            }
    CHECK_MSG(bad == 0, "%d of %d rows differ from tokenscan_ref", bad, rows);
}

/* Every column and the raw moments of s, for bitwise comparison. */
static double *snapshot(const qs_chanstats *s, int C) {
    double *b = malloc(sizeof(double) * (QS_CHANSTATS_FIELD_COUNT + 4) * (size_t)C);
    for (int f = 0; f < QS_CHANSTATS_FIELD_COUNT; f++) qs_chanstats_column(s, f, b + (size_t)f * C);
    double *m = b + (size_t)QS_CHANSTATS_FIELD_COUNT * C;
    for (int c = 0; c < C; c++) {
        qs_moments mm = qs_chanstats_moments(s, c);
        m[c] = mm.mean;
        m[C + c] = mm.m2;
        m[2 * C + c] = mm.m3;
        m[3 * C + c] = mm.m4;
    }
    return b;
}

/* Rows whose channels sit one float step below, at and above tau·median (and the int8
 * threshold), so that the per-token thresholds of the fast add meet the division of
 * the definition at its edge. Odd C: the median is one value, planted as 1.0 + noise. */
static void fill_edges(float *x, int T, int C, double tau, double thr8) {
    for (int t = 0; t < T; t++) {
        float *row = x + (size_t)t * C;
        float m = (float)(0.5 + unif());
        /* C/2 values below m, m itself, the rest above it: the median of |x| is m */
        for (int c = 0; c < C; c++)
            row[c] = m * (float)(c < C / 2 ? 0.5 * unif() : 1.0 + 0.01 * unif());
        row[C / 2] = m;
        float edge = (float)(tau * (double)m), e8 = (float)thr8;
        for (int j = 0; j < 12 && C / 2 + 1 + j < C; j++) {
            float base = j < 6 ? edge : e8;
            int step = j % 3 - 1;
            float v = step < 0   ? nextafterf(base, 0.0f)
                      : step > 0 ? nextafterf(base, INFINITY)
                                 : base;
            row[C / 2 + 1 + j] = j & 1 ? -v : v;
        }
    }
}

static void test_chanstats(void) {
    const double taus[3] = {20.0, 3.0, 1.0000001};
    int bad = 0, runs = 0;
    for (int wi = 0; wi < N_WIDTHS; wi++)
        for (int p = 0; p <= N_PATTERNS; p++) {
            const int C = widths[wi], T = 33;
            qs_chanstats_config cfg = qs_chanstats_config_default();
            cfg.tau = taus[(wi + p) % 3];
            float *x = malloc(sizeof(float) * T * C);
            if (p == N_PATTERNS && C >= 25)
                fill_edges(x, T, C, cfg.tau, cfg.int8_threshold);
            else
                fill(x, T, C, p % N_PATTERNS);
            qs_chanstats *b = NULL;
            CHECK(qs_chanstats_create(&b, C, &cfg) == QS_OK);
            /* two windows of different lengths, so the merge path runs too */
            CHECK(qs_chanstats_add_ref(b, x, T, C) == QS_OK &&
                  qs_chanstats_add_ref(b, x, T - 10, C) == QS_OK);
            double *sb = snapshot(b, C);
            for (int pi = 0; pi < n_paths; pi++) {
                qs_cpu_path_set(paths[pi]);
                qs_chanstats *a = NULL;
                CHECK(qs_chanstats_create(&a, C, &cfg) == QS_OK);
                CHECK(qs_chanstats_add(a, x, T, C) == QS_OK &&
                      qs_chanstats_add(a, x, T - 10, C) == QS_OK);
                double *sa = snapshot(a, C);
                runs++;
                if (memcmp(sa, sb, sizeof(double) * (QS_CHANSTATS_FIELD_COUNT + 4) * (size_t)C)) {
                    if (bad++ < 5)
                        fprintf(stderr, "chanstats %s C=%d pattern %d tau %g differs\n",
                                qs_cpu_path_name(paths[pi]), C, p, cfg.tau);
                }
                free(sa);
                qs_chanstats_free(a);
            }
            free(sb);
            qs_chanstats_free(b);
            free(x);
        }
    CHECK_MSG(bad == 0, "%d of %d chanstats runs differ from add_ref", bad, runs);
    /* the edge rows do exercise both sides of the threshold (checked on the best path) */
    qs_cpu_path_set(paths[n_paths - 1]);
    const int C = 101, T = 9;
    float x[9 * 101];
    fill_edges(x, T, C, 20.0, 6.0);
    qs_chanstats *s = NULL;
    CHECK(qs_chanstats_create(&s, C, NULL) == QS_OK && qs_chanstats_add(s, x, T, C) == QS_OK);
    int64_t n_out = 0;
    for (int c = C / 2 + 1; c < C / 2 + 7; c++) {
        qs_chanstats_channel ch;
        qs_chanstats_channel_get(s, c, &ch);
        n_out += ch.n_outlier_tokens;
    }
    CHECK_MSG(n_out > 0 && n_out < 6 * T, "outlier tokens in the edge channels: %lld of %d",
              (long long)n_out, 6 * T);
    qs_chanstats_free(s);
}

static int same_summary(const qs_tensorstats_summary *a, const qs_tensorstats_summary *b) {
    int exact =
        a->count == b->count && a->n_zero == b->n_zero && a->n_underflow == b->n_underflow &&
        a->n_overflow == b->n_overflow && !memcmp(&a->min, &b->min, 8) &&
        !memcmp(&a->max, &b->max, 8) && !memcmp(&a->absmax, &b->absmax, 8) &&
        !memcmp(&a->min_abs_nonzero, &b->min_abs_nonzero, 8) && !memcmp(&a->p50, &b->p50, 8) &&
        !memcmp(&a->p99, &b->p99, 8) && !memcmp(&a->p9999, &b->p9999, 8);
    /* moments: the same bits, NaN (no spread) included */
    double m[6][2] = {{a->mean, b->mean},         {a->var, b->var},
                      {a->skewness, b->skewness}, {a->kurtosis, b->kurtosis},
                      {a->mean_abs, b->mean_abs}, {a->mean_sq, b->mean_sq}};
    for (int k = 0; k < 6; k++)
        exact &= isnan(m[k][0]) ? isnan(m[k][1]) : !memcmp(&m[k][0], &m[k][1], 8);
    return exact;
}

/* x (n) on every path against the reference; returns the runs, counts differences in *bad. */
static int compare_tensorstats(const float *x, int n, int *bad, int pattern) {
    qs_tensorstats *b = NULL;
    CHECK(qs_tensorstats_create(&b) == QS_OK && qs_tensorstats_add_ref(b, x, n) == QS_OK);
    qs_tensorstats_summary sb;
    qs_tensorstats_summarize(b, &sb);
    const gsl_histogram *hb = qs_tensorstats_histogram(b);
    for (int pi = 0; pi < n_paths; pi++) {
        qs_cpu_path_set(paths[pi]);
        qs_tensorstats *a = NULL;
        CHECK(qs_tensorstats_create(&a) == QS_OK && qs_tensorstats_add(a, x, n) == QS_OK);
        qs_tensorstats_summary sa;
        qs_tensorstats_summarize(a, &sa);
        const gsl_histogram *ha = qs_tensorstats_histogram(a);
        if (!same_summary(&sa, &sb) || memcmp(ha->bin, hb->bin, sizeof(double) * ha->n)) {
            if ((*bad)++ < 5)
                fprintf(stderr, "tensorstats %s n=%d pattern %d differs\n",
                        qs_cpu_path_name(paths[pi]), n, pattern);
        }
        qs_tensorstats_free(a);
    }
    qs_tensorstats_free(b);
    return n_paths;
}

static void test_tensorstats(void) {
    int bad = 0, runs = 0;
    /* every pattern at a few lengths (chunk remainders included) */
    const int lens[] = {1, 15, 17, 4095, 4096, 4097, 3 * 4096 + 5};
    for (int li = 0; li < 7; li++)
        for (int p = 0; p < N_PATTERNS; p++) {
            int n = lens[li];
            float *x = malloc(sizeof(float) * n);
            fill(x, 1, n, p);
            runs += compare_tensorstats(x, n, &bad, p);
            free(x);
        }
    /* one float step either side of every edge, both signs, plus the extremes */
    const int n = 6 * (QS_TENSORSTATS_NBINS + 1) + 6;
    float *x = malloc(sizeof(float) * n);
    int k = 0;
    for (int i = 0; i <= QS_TENSORSTATS_NBINS; i++) {
        double e = pow(10.0, QS_TENSORSTATS_LOG10_MIN + (double)i / QS_TENSORSTATS_BINS_PER_DECADE);
        float f = (float)e;
        float v[3] = {nextafterf(f, 0.0f), f, nextafterf(f, INFINITY)};
        for (int j = 0; j < 3; j++) {
            x[k++] = v[j];
            x[k++] = -v[j];
        }
    }
    const float extra[6] = {0.0f, -0.0f, FLT_MAX, -FLT_MAX, FLT_TRUE_MIN, FLT_MIN};
    for (int j = 0; j < 6; j++) x[k++] = extra[j];
    runs += compare_tensorstats(x, n, &bad, -1);
    qs_tensorstats *b = NULL;
    qs_tensorstats_summary sb;
    CHECK(qs_tensorstats_create(&b) == QS_OK && qs_tensorstats_add_ref(b, x, n) == QS_OK);
    qs_tensorstats_summarize(b, &sb);
    CHECK(sb.n_zero == 2 && sb.n_overflow >= 2 && sb.n_underflow >= 4);
    qs_tensorstats_free(b);
    free(x);
    CHECK_MSG(bad == 0, "%d of %d tensorstats runs differ from add_ref", bad, runs);
}

/* A NaN found by the main pass of each fast kernel: same error as the reference, nothing
 * changed. */
static void test_nonfinite(void) {
    enum { T = 20, C = 37 };
    static float x[T * C];
    fill(x, T, C, 0);
    x[11 * C + 30] = NAN;
    x[15 * C + 2] = INFINITY;
    qs_token_stat s[T];
    s[0].absmax = -1.0f;
    CHECK(qs_tokenscan(s, x, T, C) == QS_ERR_NUMERIC && s[0].absmax == -1.0f);
    CHECK(strstr(qs_error_message(), "t=11, c=30") != NULL);
    qs_chanstats *cs = NULL;
    CHECK(qs_chanstats_create(&cs, C, NULL) == QS_OK);
    CHECK(qs_chanstats_add(cs, x, T, C) == QS_ERR_NUMERIC && qs_chanstats_count(cs) == 0);
    CHECK(strstr(qs_error_message(), "t=11, c=30") != NULL);
    qs_chanstats_channel ch;
    qs_chanstats_channel_get(cs, 0, &ch);
    CHECK(ch.n_windows == 0 && isnan(ch.absmax));
    qs_chanstats_free(cs);
    qs_tensorstats *ts = NULL;
    CHECK(qs_tensorstats_create(&ts) == QS_OK);
    CHECK(qs_tensorstats_add(ts, x, T * C) == QS_ERR_NUMERIC && qs_tensorstats_count(ts) == 0);
    CHECK(strstr(qs_error_message(), "index 437") != NULL);
    const gsl_histogram *h = qs_tensorstats_histogram(ts);
    double total = 0;
    for (size_t i = 0; i < h->n; i++) total += h->bin[i];
    CHECK(total == 0);
    qs_tensorstats_free(ts);
}

int main(void) {
    qs_error_clear();
    printf("paths:");
    /* up to the path in use: QS_CPU_PATH caps it (valgrind, say, runs no AVX-512) */
    const int top = qs_cpu_path();
    for (int path = QS_CPU_SCALAR; path <= top; path++) {
        CHECK(qs_cpu_path_set(path) == path && qs_cpu_path() == path);
        paths[n_paths++] = path;
        printf(" %s", qs_cpu_path_name(path));
    }
    printf("\n");
    test_tokenscan();
    test_chanstats();
    test_tensorstats();
    for (int pi = 0; pi < n_paths; pi++) {
        qs_cpu_path_set(paths[pi]);
        test_nonfinite();
    }
    return check_summary("test_analysis_fast");
}
