#include "tokenscan.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "finite.h"
#include "select.h"
#include "simd.h"

static int check_args(const qs_token_stat *out, const float *x, int T, int C) {
    if (!out || !x) return qs_error_set(QS_ERR_ARG, "tokenscan: NULL argument");
    if (T < 1 || C < 1)
        return qs_error_set(QS_ERR_ARG, "tokenscan: bad shape (T=%d, C=%d), need T, C >= 1", T, C);
    return QS_OK;
}

static int report_nonfinite(const float *x, int T, int C) {
    int64_t bad = qs__first_nonfinite(x, (int64_t)T * C);
    return qs_error_set(QS_ERR_NUMERIC, "tokenscan: non-finite value %g at (t=%lld, c=%lld)",
                        (double)x[bad], (long long)(bad / C), (long long)(bad % C));
}

static int validate(const qs_token_stat *out, const float *x, int T, int C) {
    int rc = check_args(out, x, T, C);
    if (rc) return rc;
    if (qs__first_nonfinite(x, (int64_t)T * C) >= 0) return report_nonfinite(x, T, C);
    return QS_OK;
}

/* absmax, argmax and signed value of one row; median filled by the caller */
static qs_token_stat row_max(const float *row, int C) {
    qs_token_stat s = {fabsf(row[0]), row[0], 0, 0.0};
    for (int c = 1; c < C; c++) {
        float a = fabsf(row[c]);
        if (a > s.absmax) {
            s.absmax = a;
            s.value = row[c];
            s.channel = c;
        }
    }
    return s;
}

/* The channel of the largest |x| in the row (lowest on ties) and whether the row holds a
 * NaN or infinity, on the bits of |x| (simd.h): a nonfinite value's bits are above every
 * finite one's, so the row is bad exactly when its largest key is. */
static int row_argmax_scalar(const float *row, int C, int *bad) {
    uint32_t best = qs__abs_bits(row[0]);
    int arg = 0;
    for (int c = 1; c < C; c++) {
        uint32_t u = qs__abs_bits(row[c]);
        if (u > best) {
            best = u;
            arg = c;
        }
    }
    *bad = best >= 0x7f800000u;
    return arg;
}

#if QS_HAVE_X86_SIMD
#include <immintrin.h>

/* Two interleaved lane sets, each lane remembering the first index where its maximum
 * appeared; the reduction takes the lowest index among lanes at the maximum, and the tail
 * (higher indices) continues with a strict comparison, keeping ties at the lower index.
 * Keys are below 2^31, so signed compares order them. */
QS_TARGET_AVX2 static int row_argmax_avx2(const float *row, int C, int *bad) {
    const uint32_t *src = (const uint32_t *)(const void *)row;
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff), step = _mm256_set1_epi32(16);
    __m256i i0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i i1 = _mm256_add_epi32(i0, _mm256_set1_epi32(8));
    __m256i m0 = _mm256_setzero_si256(), m1 = m0, a0 = i0, a1 = i1;
    int c = 0;
    for (; c + 16 <= C; c += 16) {
        __m256i u0 = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(src + c)), absmask);
        __m256i u1 = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(src + c + 8)), absmask);
        __m256i g0 = _mm256_cmpgt_epi32(u0, m0), g1 = _mm256_cmpgt_epi32(u1, m1);
        m0 = _mm256_max_epi32(m0, u0);
        m1 = _mm256_max_epi32(m1, u1);
        a0 = _mm256_blendv_epi8(a0, i0, g0);
        a1 = _mm256_blendv_epi8(a1, i1, g1);
        i0 = _mm256_add_epi32(i0, step);
        i1 = _mm256_add_epi32(i1, step);
    }
    uint32_t best = src[0] & 0x7fffffffu;
    int arg = 0;
    if (c > 0) { /* lanes hold indices below c: reduce them in registers */
        /* the two sets lane by lane: the larger key, on a tie the lower index */
        __m256i gt = _mm256_cmpgt_epi32(m1, m0), eq = _mm256_cmpeq_epi32(m1, m0);
        __m256i m = _mm256_max_epi32(m0, m1);
        __m256i a =
            _mm256_blendv_epi8(_mm256_blendv_epi8(a0, a1, gt), _mm256_min_epi32(a0, a1), eq);
        /* the largest key in every lane, then the lowest index among the lanes holding it */
        __m256i t = _mm256_max_epi32(m, _mm256_permute2x128_si256(m, m, 1));
        t = _mm256_max_epi32(t, _mm256_shuffle_epi32(t, 0x4e));
        t = _mm256_max_epi32(t, _mm256_shuffle_epi32(t, 0xb1));
        __m256i i = _mm256_blendv_epi8(_mm256_set1_epi32(INT32_MAX), a, _mm256_cmpeq_epi32(m, t));
        i = _mm256_min_epi32(i, _mm256_permute2x128_si256(i, i, 1));
        i = _mm256_min_epi32(i, _mm256_shuffle_epi32(i, 0x4e));
        i = _mm256_min_epi32(i, _mm256_shuffle_epi32(i, 0xb1));
        best = (uint32_t)_mm256_cvtsi256_si32(t);
        arg = _mm256_cvtsi256_si32(i);
    }
    for (; c < C; c++) {
        uint32_t u = src[c] & 0x7fffffffu;
        if (u > best) {
            best = u;
            arg = c;
        }
    }
    *bad = best >= 0x7f800000u;
    return arg;
}

QS_TARGET_AVX512 static int row_argmax_avx512(const float *row, int C, int *bad) {
    const uint32_t *src = (const uint32_t *)(const void *)row;
    const __m512i absmask = _mm512_set1_epi32(0x7fffffff), step = _mm512_set1_epi32(32);
    __m512i i0 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i i1 = _mm512_add_epi32(i0, _mm512_set1_epi32(16));
    __m512i m0 = _mm512_setzero_si512(), m1 = m0, a0 = i0, a1 = i1;
    int c = 0;
    for (; c + 32 <= C; c += 32) {
        __m512i u0 = _mm512_and_si512(_mm512_loadu_si512(src + c), absmask);
        __m512i u1 = _mm512_and_si512(_mm512_loadu_si512(src + c + 16), absmask);
        __mmask16 g0 = _mm512_cmpgt_epu32_mask(u0, m0), g1 = _mm512_cmpgt_epu32_mask(u1, m1);
        m0 = _mm512_mask_mov_epi32(m0, g0, u0);
        a0 = _mm512_mask_mov_epi32(a0, g0, i0);
        m1 = _mm512_mask_mov_epi32(m1, g1, u1);
        a1 = _mm512_mask_mov_epi32(a1, g1, i1);
        i0 = _mm512_add_epi32(i0, step);
        i1 = _mm512_add_epi32(i1, step);
    }
    for (; c < C; c += 16) {
        __mmask16 t = C - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (C - c)) - 1);
        __m512i u0 = _mm512_and_si512(_mm512_maskz_loadu_epi32(t, src + c), absmask);
        __mmask16 g0 = _mm512_mask_cmpgt_epu32_mask(t, u0, m0);
        m0 = _mm512_mask_mov_epi32(m0, g0, u0);
        a0 = _mm512_mask_mov_epi32(a0, g0, i0);
        i0 = _mm512_add_epi32(i0, _mm512_set1_epi32(16));
    }
    uint32_t mx0 = (uint32_t)_mm512_reduce_max_epu32(m0),
             mx1 = (uint32_t)_mm512_reduce_max_epu32(m1);
    uint32_t mx = mx0 > mx1 ? mx0 : mx1;
    __m512i vm = _mm512_set1_epi32((int)mx);
    __mmask16 e0 = _mm512_cmpeq_epi32_mask(m0, vm), e1 = _mm512_cmpeq_epi32_mask(m1, vm);
    uint32_t c0 = e0 ? (uint32_t)_mm512_mask_reduce_min_epu32(e0, a0) : UINT32_MAX;
    uint32_t c1 = e1 ? (uint32_t)_mm512_mask_reduce_min_epu32(e1, a1) : UINT32_MAX;
    *bad = mx >= 0x7f800000u;
    return (int)(c0 < c1 ? c0 : c1);
}
#endif

typedef int (*argmax_fn)(const float *row, int C, int *bad);

static argmax_fn argmax_for(int path) {
#if QS_HAVE_X86_SIMD
    if (path >= QS_CPU_AVX512) return row_argmax_avx512;
    if (path == QS_CPU_AVX2) return row_argmax_avx2;
#endif
    return row_argmax_scalar;
}

/* Every row on the path's kernels, each row owned by one thread; returns nonzero when some
 * row held a NaN or infinity (out is then partly filled and must be discarded). keys:
 * (nt, 2, qs__select_buf_len(C)); med (T) scratch. Short rows take their medians many at
 * a time (median_net.c), the others one by one. */
static int scan_rows(int path, qs_token_stat *out, const float *x, int T, int C, uint32_t *keys,
                     double *med) {
    argmax_fn argmax = argmax_for(path);
    const int by_rows = qs__median_abs_rows(path, med, x, T, C);
    int any_bad = 0;
#pragma omp parallel reduction(| : any_bad) if ((int64_t)T * C >= QS__PAR_MIN_ELEMENTS)
    {
        const size_t len = (size_t)qs__select_buf_len(C);
        uint32_t *a = keys + (size_t)omp_get_thread_num() * 2 * len, *b = a + len;
#pragma omp for schedule(dynamic, 8)
        for (int t = 0; t < T; t++) {
            const float *row = x + (size_t)t * C;
            int bad;
            int ch = argmax(row, C, &bad);
            any_bad |= bad;
            if (bad) continue;
            qs_token_stat s = {fabsf(row[ch]), row[ch], ch, 0.0};
            s.median_abs = by_rows ? med[t] : qs__median_abs_keys(path, row, C, a, b);
            out[t] = s;
        }
    }
    return any_bad;
}

/* NaN and infinity are found in the same pass as the maxima. */
int qs_tokenscan(qs_token_stat *out, const float *x, int T, int C) {
    int rc = check_args(out, x, T, C);
    if (rc) return rc;
    /* results go to scratch first: out stays untouched when a row is not finite */
    int nt = omp_get_max_threads();
    qs_token_stat *tmp = malloc(sizeof *tmp * (size_t)T); /* (T) */
    double *med = malloc(sizeof *med * (size_t)T);        /* (T) */
    uint32_t *keys =
        malloc(sizeof *keys * 2 * (size_t)nt * qs__select_buf_len(C)); /* (nt, 2, C + 64) */
    if (!tmp || !med || !keys) {
        free(tmp);
        free(med);
        free(keys);
        return qs_error_set(QS_ERR_NOMEM, "tokenscan: scratch for T=%d, C=%d", T, C);
    }
    int bad = scan_rows(qs_cpu_path(), tmp, x, T, C, keys, med);
    if (bad)
        rc = report_nonfinite(x, T, C);
    else
        for (int t = 0; t < T; t++) { /* member by member: padding bytes stay as they were */
            out[t].absmax = tmp[t].absmax;
            out[t].value = tmp[t].value;
            out[t].channel = tmp[t].channel;
            out[t].median_abs = tmp[t].median_abs;
        }
    free(tmp);
    free(med);
    free(keys);
    return rc;
}

int qs_tokenscan_ref(qs_token_stat *out, const float *x, int T, int C) {
    int rc = validate(out, x, T, C);
    if (rc) return rc;
    float *scratch = malloc(sizeof(float) * (size_t)C); /* (C) */
    if (!scratch) return qs_error_set(QS_ERR_NOMEM, "tokenscan: scratch of %d floats", C);
    for (int t = 0; t < T; t++) {
        const float *row = x + (size_t)t * C;
        qs_token_stat s = row_max(row, C);
        s.median_abs = qs_select_median_abs_ref(scratch, row, C);
        out[t] = s;
    }
    free(scratch);
    return QS_OK;
}
