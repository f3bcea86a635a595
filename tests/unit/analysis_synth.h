/* Synthetic activations for the analysis/ tests: heavy-tailed (Student-t, ν = 3) windows
 * with known planted structure, reproducible from a seed, plus raw-binary dump helpers for
 * the numpy witness (tests/ref/test_analysis_numpy.py).
 *
 * Layout: W windows of TW tokens, C channels, x is (W*TW, C) row-major.
 * Planted:
 *   SYN_OUT_CH     persistent outlier channel: |x| = 60·(1 + 0.2|t|) with a random sign in
 *                  every token, i.e. >= 60 while a token's median |x| is about 1
 *   SYN_PART_CH    the same, but only in windows w % 4 == 0 (token fraction 1/4: below
 *                  phi, so not a persistent outlier, yet those windows are outlier windows)
 *   SYN_MEAN_CH    offset by +3 (a channel whose mean is large against its spread)
 *   massive tokens SYN_N_MASSIVE rows with ±5000 in channel SYN_MASSIVE_CH */
#ifndef QS_TEST_ANALYSIS_SYNTH_H
#define QS_TEST_ANALYSIS_SYNTH_H

#include <errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SYN_OUT_CH     7
#define SYN_PART_CH    11
#define SYN_MEAN_CH    5
#define SYN_MASSIVE_CH 3
#define SYN_N_MASSIVE  4

/* rows (global token index) of the massive tokens and their signs */
static const int syn_massive_row[SYN_N_MASSIVE] = {0, 129, 700, 1023};
static const float syn_massive_val[SYN_N_MASSIVE] = {5000.0f, -5000.0f, 4200.0f, -6100.0f};

/* Fills x (W*TW, C). C must exceed SYN_PART_CH. */
static inline void syn_fill(float *x, int W, int TW, int C, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    for (int w = 0; w < W; w++)
        for (int t = 0; t < TW; t++) {
            float *row = x + ((size_t)w * TW + t) * C;
            for (int c = 0; c < C; c++) {
                double scale = 0.5 + 1.5 * (double)(c % 5) / 4.0;
                double v = scale * gsl_ran_tdist(r, 3.0);
                if (c == SYN_MEAN_CH) v += 3.0;
                int planted = c == SYN_OUT_CH || (c == SYN_PART_CH && w % 4 == 0);
                if (planted) {
                    double s = gsl_rng_uniform(r) < 0.5 ? -1.0 : 1.0;
                    v = s * 60.0 * (1.0 + 0.2 * fabs(v));
                }
                row[c] = (float)v;
            }
        }
    for (int i = 0; i < SYN_N_MASSIVE; i++)
        if (syn_massive_row[i] < W * TW)
            x[(size_t)syn_massive_row[i] * C + SYN_MASSIVE_CH] = syn_massive_val[i];
    gsl_rng_free(r);
}

/* Raw little-endian dumps: returns 0 on success. */
static inline int syn_write(const char *dir, const char *name, const void *p, size_t bytes) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t k = fwrite(p, 1, bytes, f);
    int bad = fclose(f) != 0 || k != bytes;
    if (bad) fprintf(stderr, "short write on %s\n", path);
    return bad;
}

static inline int syn_mkdir(const char *dir) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    return 0;
}

/* "--dump DIR" in argv: returns DIR, else NULL */
static inline const char *syn_dump_dir(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--dump") == 0) return argv[i + 1];
    return NULL;
}

/* relative difference with a floor on the scale */
static inline double syn_rel(double a, double b, double floor_) {
    double s = fabs(b) > floor_ ? fabs(b) : floor_;
    return fabs(a - b) / s;
}

#endif
