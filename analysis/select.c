#include "select.h"

#include <math.h>
#include <stdlib.h>

#include "simd.h"

static inline void swapf(float *a, float *b) {
    float t = *a;
    *a = *b;
    *b = t;
}

static int cmp_float(const void *pa, const void *pb) {
    float a = *(const float *)pa, b = *(const float *)pb;
    return (a > b) - (a < b);
}

/* Hoare partition around a median-of-three pivot, narrowing [lo, hi] to the side holding
 * k. Equal keys stop both scans, so runs of equal values (zeros!) split evenly instead of
 * degrading to O(n²). After a bounded number of rounds the remaining range is sorted. */
void qs_select_kth(float *a, int n, int k) {
    int lo = 0, hi = n - 1;
    int rounds_left = 64;
    for (int m = n; m > 1; m >>= 1) rounds_left += 2;
    while (hi > lo) {
        if (--rounds_left < 0) {
            qsort(a + lo, (size_t)(hi - lo + 1), sizeof *a, cmp_float);
            return;
        }
        int mid = lo + (hi - lo) / 2;
        if (a[mid] < a[lo]) swapf(&a[mid], &a[lo]);
        if (a[hi] < a[lo]) swapf(&a[hi], &a[lo]);
        if (a[hi] < a[mid]) swapf(&a[hi], &a[mid]);
        float pivot = a[mid];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                swapf(&a[i], &a[j]);
                i++;
                j--;
            }
        }
        /* now a[lo..j] <= pivot, a[i..hi] >= pivot, and a[j+1..i-1] == pivot */
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return;
    }
}

double qs_select_median_abs(float *scratch, const float *v, int n) {
    for (int i = 0; i < n; i++) scratch[i] = fabsf(v[i]);
    int k = n / 2;
    qs_select_kth(scratch, n, k);
    if (n & 1) return (double)scratch[k];
    /* even: the lower middle is the largest of the left part */
    float lower = scratch[0];
    for (int i = 1; i < k; i++)
        if (scratch[i] > lower) lower = scratch[i];
    return 0.5 * ((double)lower + (double)scratch[k]);
}

double qs_select_median_abs_ref(float *scratch, const float *v, int n) {
    for (int i = 0; i < n; i++) scratch[i] = fabsf(v[i]);
    qsort(scratch, (size_t)n, sizeof *scratch, cmp_float);
    if (n & 1) return (double)scratch[n / 2];
    return 0.5 * ((double)scratch[n / 2 - 1] + (double)scratch[n / 2]);
}

#if QS_HAVE_AVX512
#include <immintrin.h>

/* AVX-512 selection on the bits of |x| (simd.h: their unsigned order is the order of
 * |x|). Each round draws a fixed, evenly spaced sample of the current set, takes the two
 * sample order statistics that bracket the target rank with high probability, and keeps
 * the keys between them with one compress pass; a miss keeps the side that holds the
 * target instead. Rounds end at 64 keys, which are ranked all against all. Everything is
 * exact: the sample only chooses which keys to keep. */

/* The keys at positions r0 <= r1 of the sorted s[0..n), n <= 64, into *k0, *k1, by
 * counting for each key how many are smaller and how many are not larger (all pairs, 16
 * at a time). Keys are below 0xffffffff (the padding). */
QS_AVX512 static void rank_small(const uint32_t *s, int n, int r0, int r1, uint32_t *k0,
                                 uint32_t *k1) {
    uint32_t pad[80];
    int nv = (n + 15) / 16, found = 0;
    for (int i = 0; i < n; i++) pad[i] = s[i];
    for (int i = n; i < nv * 16; i++) pad[i] = UINT32_MAX;
    *k0 = *k1 = s[0]; /* unreachable fallback: some key holds every position */
    for (int i = 0; i < n && found != 3; i++) {
        __m512i v = _mm512_set1_epi32((int)s[i]);
        int lt = 0, le = 0;
        for (int j = 0; j < nv; j++) {
            __m512i w = _mm512_loadu_si512(pad + 16 * j);
            lt += _mm_popcnt_u32(_mm512_cmplt_epu32_mask(w, v));
            le += _mm_popcnt_u32(_mm512_cmple_epu32_mask(w, v));
        }
        if (lt <= r0 && r0 < le) *k0 = s[i], found |= 1;
        if (lt <= r1 && r1 < le) *k1 = s[i], found |= 2;
    }
}

/* dst <- the keys |src| in [lo, hi], in order; *below <- how many are < lo. Returns the
 * number kept. dst needs n + 16 keys (whole vectors are stored past the end). */
QS_AVX512 static int filter_band(uint32_t *dst, int *below, const uint32_t *src, int n, uint32_t lo,
                                 uint32_t hi) {
    const __m512i absmask = _mm512_set1_epi32(0x7fffffff);
    const __m512i vlo = _mm512_set1_epi32((int)lo), vhi = _mm512_set1_epi32((int)hi);
    int nb = 0, nc = 0, i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i u = _mm512_and_si512(_mm512_loadu_si512(src + i), absmask);
        __mmask16 mb = _mm512_cmplt_epu32_mask(u, vlo);
        __mmask16 mi = _mm512_mask_cmple_epu32_mask((__mmask16)~mb, u, vhi);
        nb += _mm_popcnt_u32(mb);
        _mm512_storeu_si512(dst + nc, _mm512_maskz_compress_epi32(mi, u));
        nc += _mm_popcnt_u32(mi);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512i u = _mm512_and_si512(_mm512_maskz_loadu_epi32(m, src + i), absmask);
        __mmask16 mb = _mm512_mask_cmplt_epu32_mask(m, u, vlo);
        __mmask16 mi = _mm512_mask_cmple_epu32_mask(m & (__mmask16)~mb, u, vhi);
        nb += _mm_popcnt_u32(mb);
        _mm512_storeu_si512(dst + nc, _mm512_maskz_compress_epi32(mi, u));
        nc += _mm_popcnt_u32(mi);
    }
    *below = nb;
    return nc;
}

/* k-th smallest of |src[0..n)| (keys); a, b scratch of n + 64 keys. src is only read. */
QS_AVX512 static uint32_t select_keys(const uint32_t *src, uint32_t *a, uint32_t *b, int n, int k) {
    const uint32_t *cur = src;
    uint32_t *dst = a, *spare = b;
    while (n > 64) {
        const int s = 32;
        uint32_t S[64];
        for (int j = 0; j < s; j++)
            S[j] = cur[(int)(((int64_t)(2 * j + 1) * n) / (2 * s))] & 0x7fffffffu;
        /* the target's expected position in the sample, and a band of 1.5 standard
         * deviations (binomial) around it: wide enough to hit most of the time, narrow
         * enough to drop most keys */
        double p = (double)k / n, q = p * s;
        double d = 1.5 * sqrt(s * p * (1.0 - p)) + 1.0;
        int qlo = (int)floor(q - d), qhi = (int)ceil(q + d);
        uint32_t lo, hi;
        rank_small(S, s, qlo < 0 ? 0 : qlo, qhi >= s ? s - 1 : qhi, &lo, &hi);
        if (qlo < 0) lo = 0;
        if (qhi >= s) hi = UINT32_MAX;
        int below, tmp;
        int nc = filter_band(dst, &below, cur, n, lo, hi);
        if (k < below) { /* the target is below the band: lo > 0 as some key is < lo */
            nc = filter_band(dst, &tmp, cur, n, 0, lo - 1);
        } else if (k >= below + nc) { /* above it: some key is > hi, so hi < UINT32_MAX */
            k -= below + nc;
            nc = filter_band(dst, &tmp, cur, n, hi + 1, UINT32_MAX);
        } else {
            k -= below;
        }
        if (nc == n) {
            /* the band held every key: split three ways around one sample key instead,
             * which always removes at least that key */
            int qi = (int)q < s ? (int)q : s - 1;
            uint32_t piv, unused;
            rank_small(S, s, qi, qi, &piv, &unused);
            int lt, eq = filter_band(dst, &lt, cur, n, piv, piv);
            if (k < lt) {
                nc = filter_band(dst, &tmp, cur, n, 0, piv - 1);
            } else if (k < lt + eq) {
                return piv;
            } else {
                k -= lt + eq;
                nc = filter_band(dst, &tmp, cur, n, piv + 1, UINT32_MAX);
            }
        }
        n = nc;
        cur = dst;
        dst = spare;
        spare = (uint32_t *)cur;
    }
    uint32_t last[64];
    for (int i = 0; i < n; i++) last[i] = cur[i] & 0x7fffffffu;
    uint32_t key, unused;
    rank_small(last, n, k, k, &key, &unused);
    return key;
}

QS_AVX512 double qs__median_abs_avx512(const float *v, int n, uint32_t *a, uint32_t *b) {
    const uint32_t *src = (const uint32_t *)(const void *)v;
    int k = n / 2;
    uint32_t upper = select_keys(src, a, b, n, k);
    if (n & 1) return (double)qs__bits_float(upper);
    /* even: the lower middle is the upper one when fewer than k keys are smaller, else the
     * largest smaller key */
    const __m512i absmask = _mm512_set1_epi32(0x7fffffff), vu = _mm512_set1_epi32((int)upper);
    __m512i mx = _mm512_setzero_si512();
    int lt = 0, i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i u = _mm512_and_si512(_mm512_loadu_si512(src + i), absmask);
        __mmask16 m = _mm512_cmplt_epu32_mask(u, vu);
        lt += _mm_popcnt_u32(m);
        mx = _mm512_mask_max_epu32(mx, m, mx, u);
    }
    if (i < n) {
        __mmask16 t = (__mmask16)((1u << (n - i)) - 1);
        __m512i u = _mm512_and_si512(_mm512_maskz_loadu_epi32(t, src + i), absmask);
        __mmask16 m = _mm512_mask_cmplt_epu32_mask(t, u, vu);
        lt += _mm_popcnt_u32(m);
        mx = _mm512_mask_max_epu32(mx, m, mx, u);
    }
    uint32_t lower = lt < k ? upper : (uint32_t)_mm512_reduce_max_epu32(mx);
    return 0.5 * ((double)qs__bits_float(lower) + (double)qs__bits_float(upper));
}
#endif
