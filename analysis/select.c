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

/* Sampled-band selection on the bits of |x| (simd.h: their unsigned order is the order of
 * |x|), the fast median of every path. Each round draws a fixed, evenly spaced sample of
 * the current set, takes the two sample order statistics that bracket the target rank with
 * high probability, and keeps the keys between them with one branch-free pass; a miss keeps
 * the side that holds the target instead. Rounds end at 16 to 64 keys (band_ops), which
 * are ranked all against all. Everything is exact: the sample only chooses which keys to keep, so
 * every path returns the median of the definition. The rounds are plain C; the passes over the keys
 * are a path's primitives (band_ops). */
typedef struct band_ops {
    /* the keys at positions r0 <= r1 of the sorted s[0..n), n <= 64, into *k0, *k1: the key
     * at position r is the largest key c with lt(c) <= r, lt(c) counting the keys below c
     * (every key above it has all of s[0..r] below it). Keys are below 2^31. */
    void (*rank_small)(const uint32_t *s, int n, int r0, int r1, uint32_t *k0, uint32_t *k1);
    /* dst <- the keys |src| in [lo, hi], in order; *below <- how many are < lo. Returns the
     * number kept. dst has room for n + 64 keys (whole vectors are stored past the end). */
    int (*filter_band)(uint32_t *dst, int *below, const uint32_t *src, int n, uint32_t lo,
                       uint32_t hi);
    /* the largest key |src| below upper (0 when none) and, in *lt, how many there are */
    uint32_t (*max_below)(const uint32_t *src, int n, uint32_t upper, int *lt);
    /* rounds end at this many keys (16 ... 64): ranking costs n² compares, a round a few
     * passes, and which is cheaper depends on the vector width */
    int final_keys;
} band_ops;

static void rank_small_scalar(const uint32_t *s, int n, int r0, int r1, uint32_t *k0,
                              uint32_t *k1) {
    uint32_t b0 = 0, b1 = 0;
    for (int i = 0; i < n; i++) {
        int lt = 0;
        for (int j = 0; j < n; j++) lt += s[j] < s[i];
        b0 = lt <= r0 && s[i] > b0 ? s[i] : b0;
        b1 = lt <= r1 && s[i] > b1 ? s[i] : b1;
    }
    *k0 = b0;
    *k1 = b1;
}

static int filter_band_scalar(uint32_t *dst, int *below, const uint32_t *src, int n, uint32_t lo,
                              uint32_t hi) {
    int nb = 0, nc = 0;
    for (int i = 0; i < n; i++) {
        uint32_t u = src[i] & 0x7fffffffu;
        nb += u < lo;
        dst[nc] = u; /* written always, kept when in the band */
        nc += u >= lo && u <= hi;
    }
    *below = nb;
    return nc;
}

static uint32_t max_below_scalar(const uint32_t *src, int n, uint32_t upper, int *lt) {
    uint32_t mx = 0;
    int c = 0;
    for (int i = 0; i < n; i++) {
        uint32_t u = src[i] & 0x7fffffffu;
        int in = u < upper;
        c += in;
        mx = in && u > mx ? u : mx;
    }
    *lt = c;
    return mx;
}

static const band_ops ops_scalar = {rank_small_scalar, filter_band_scalar, max_below_scalar, 16};

/* Above this many keys a round samples 32 of them; from here down to final_keys, 8. */
#define SMALL_KEYS 64

/* k-th smallest of |src[0..n)| (keys); a, b scratch of n + 64 keys. src is only read. */
static uint32_t select_keys(const band_ops *ops, const uint32_t *src, uint32_t *a, uint32_t *b,
                            int n, int k) {
    const uint32_t *cur = src;
    uint32_t *dst = a, *spare = b;
    while (n > ops->final_keys) {
        const int s = n > SMALL_KEYS ? 32 : 8;
        uint32_t S[32];
        for (int j = 0; j < s; j++) /* positions (2j + 1)·n / 2s; s is a power of two */
            S[j] = cur[(int)(((int64_t)(2 * j + 1) * n) >> (s == 32 ? 6 : 4))] & 0x7fffffffu;
        /* the target's expected position q in the sample and a band around it: with 32
         * samples 1.5 standard deviations (binomial), wide enough to hit most of the time,
         * narrow enough to drop most keys; with 8, two samples either side */
        int q, qlo, qhi;
        if (s == 32) {
            double p = (double)k / n, qd = p * s;
            double d = 1.5 * sqrt(s * p * (1.0 - p)) + 1.0;
            q = (int)qd;
            qlo = (int)floor(qd - d);
            qhi = (int)ceil(qd + d);
        } else {
            q = k * s / n;
            qlo = q - 2;
            qhi = q + 2;
        }
        uint32_t lo, hi;
        ops->rank_small(S, s, qlo < 0 ? 0 : qlo, qhi >= s ? s - 1 : qhi, &lo, &hi);
        if (qlo < 0) lo = 0;
        if (qhi >= s) hi = UINT32_MAX;
        int below, tmp;
        int nc = ops->filter_band(dst, &below, cur, n, lo, hi);
        if (k < below) { /* the target is below the band: lo > 0 as some key is < lo */
            nc = ops->filter_band(dst, &tmp, cur, n, 0, lo - 1);
        } else if (k >= below + nc) { /* above it: some key is > hi, so hi < UINT32_MAX */
            k -= below + nc;
            nc = ops->filter_band(dst, &tmp, cur, n, hi + 1, UINT32_MAX);
        } else {
            k -= below;
        }
        if (nc == n) {
            /* the band held every key: split three ways around one sample key instead,
             * which always removes at least that key */
            int qi = q < s ? q : s - 1;
            uint32_t piv, unused;
            ops->rank_small(S, s, qi, qi, &piv, &unused);
            int lt, eq = ops->filter_band(dst, &lt, cur, n, piv, piv);
            if (k < lt) {
                nc = ops->filter_band(dst, &tmp, cur, n, 0, piv - 1);
            } else if (k < lt + eq) {
                return piv;
            } else {
                k -= lt + eq;
                nc = ops->filter_band(dst, &tmp, cur, n, piv + 1, UINT32_MAX);
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
    ops->rank_small(last, n, k, k, &key, &unused);
    return key;
}

static double median_keys(const band_ops *ops, const float *v, int n, uint32_t *a, uint32_t *b) {
    const uint32_t *src = (const uint32_t *)(const void *)v;
    int k = n / 2;
    uint32_t upper = select_keys(ops, src, a, b, n, k);
    if (n & 1) return (double)qs__bits_float(upper);
    /* even: the lower middle is the upper one when fewer than k keys are smaller, else the
     * largest smaller key */
    int lt;
    uint32_t lower = ops->max_below(src, n, upper, &lt);
    if (lt < k) lower = upper;
    return 0.5 * ((double)qs__bits_float(lower) + (double)qs__bits_float(upper));
}

#if QS_HAVE_X86_SIMD
#include <immintrin.h>
#include <pthread.h>

/* AVX2 has no compress: kept lanes are packed by a permutation looked up by the 8-bit mask
 * of kept lanes (lane indices as bytes, 2 KiB, built once). */
static uint8_t compress_lut[256][8];
static pthread_once_t compress_once = PTHREAD_ONCE_INIT;

static void compress_lut_build(void) {
    for (int m = 0; m < 256; m++) {
        int k = 0;
        for (int i = 0; i < 8; i++)
            if (m >> i & 1) compress_lut[m][k++] = (uint8_t)i;
        for (; k < 8; k++) compress_lut[m][k] = 0;
    }
}

/* Keys are below 2^31, so signed compares order them; the band ends may reach 2^32 - 1 and
 * are compared as unsigned by flipping the top bit of both sides. */
/* Candidates 8 at a time against every key broadcast in turn: no horizontal step until
 * the end. Padding candidates are 0, which never exceeds the answer. */
QS_TARGET_AVX2 static void rank_small_avx2(const uint32_t *s, int n, int r0, int r1, uint32_t *k0,
                                           uint32_t *k1) {
    uint32_t pad[72];
    const int nv = (n + 7) / 8;
    for (int i = 0; i < n; i++) pad[i] = s[i];
    for (int i = n; i < nv * 8; i++) pad[i] = 0;
    const __m256i v0 = _mm256_set1_epi32(r0 + 1), v1 = _mm256_set1_epi32(r1 + 1);
    __m256i b0 = _mm256_setzero_si256(), b1 = b0;
    for (int i = 0; i < nv; i++) {
        __m256i c = _mm256_loadu_si256((const __m256i *)(pad + 8 * i));
        __m256i lt = _mm256_setzero_si256(), lt2 = lt; /* two chains: every other key */
        int j = 0;
        for (; j + 2 <= n; j += 2) {
            lt = _mm256_sub_epi32(lt, _mm256_cmpgt_epi32(c, _mm256_set1_epi32((int)s[j])));
            lt2 = _mm256_sub_epi32(lt2, _mm256_cmpgt_epi32(c, _mm256_set1_epi32((int)s[j + 1])));
        }
        if (j < n) lt = _mm256_sub_epi32(lt, _mm256_cmpgt_epi32(c, _mm256_set1_epi32((int)s[j])));
        lt = _mm256_add_epi32(lt, lt2);
        b0 = _mm256_max_epi32(b0, _mm256_and_si256(c, _mm256_cmpgt_epi32(v0, lt)));
        b1 = _mm256_max_epi32(b1, _mm256_and_si256(c, _mm256_cmpgt_epi32(v1, lt)));
    }
    uint32_t l0[8], l1[8], m0 = 0, m1 = 0;
    _mm256_storeu_si256((__m256i *)l0, b0);
    _mm256_storeu_si256((__m256i *)l1, b1);
    for (int j = 0; j < 8; j++) {
        m0 = l0[j] > m0 ? l0[j] : m0;
        m1 = l1[j] > m1 ? l1[j] : m1;
    }
    *k0 = m0;
    *k1 = m1;
}

QS_TARGET_AVX2 static int filter_band_avx2(uint32_t *dst, int *below, const uint32_t *src, int n,
                                           uint32_t lo, uint32_t hi) {
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff), top = _mm256_set1_epi32(INT32_MIN);
    const __m256i vlo = _mm256_set1_epi32((int)(lo ^ 0x80000000u));
    const __m256i vhi = _mm256_set1_epi32((int)(hi ^ 0x80000000u));
    int nb = 0, nc = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(src + i)), absmask);
        __m256i uf = _mm256_or_si256(u, top); /* u ^ 2^31, as u < 2^31 */
        unsigned mb =
            (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(vlo, uf)));
        unsigned ma =
            (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(uf, vhi)));
        unsigned mi = ~(mb | ma) & 0xffu;
        __m256i perm =
            _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)compress_lut[mi]));
        _mm256_storeu_si256((__m256i *)(dst + nc), _mm256_permutevar8x32_epi32(u, perm));
        nb += _mm_popcnt_u32(mb);
        nc += _mm_popcnt_u32(mi);
    }
    for (; i < n; i++) {
        uint32_t u = src[i] & 0x7fffffffu;
        nb += u < lo;
        dst[nc] = u;
        nc += u >= lo && u <= hi;
    }
    *below = nb;
    return nc;
}

QS_TARGET_AVX2 static uint32_t max_below_avx2(const uint32_t *src, int n, uint32_t upper, int *lt) {
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff), vu = _mm256_set1_epi32((int)upper);
    __m256i mx = _mm256_setzero_si256();
    int c = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(src + i)), absmask);
        __m256i m = _mm256_cmpgt_epi32(vu, u); /* upper is a key, below 2^31 */
        c += _mm_popcnt_u32((unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(m)));
        mx = _mm256_max_epi32(mx, _mm256_and_si256(u, m));
    }
    uint32_t lanes[8], best = 0;
    _mm256_storeu_si256((__m256i *)lanes, mx);
    for (int j = 0; j < 8; j++) best = lanes[j] > best ? lanes[j] : best;
    for (; i < n; i++) {
        uint32_t u = src[i] & 0x7fffffffu;
        int in = u < upper;
        c += in;
        best = in && u > best ? u : best;
    }
    *lt = c;
    return best;
}

static const band_ops ops_avx2 = {rank_small_avx2, filter_band_avx2, max_below_avx2, 16};

QS_TARGET_AVX512 static void rank_small_avx512(const uint32_t *s, int n, int r0, int r1,
                                               uint32_t *k0, uint32_t *k1) {
    uint32_t pad[80];
    const int nv = (n + 15) / 16;
    for (int i = 0; i < n; i++) pad[i] = s[i];
    for (int i = n; i < nv * 16; i++) pad[i] = 0;
    const __m512i v0 = _mm512_set1_epi32(r0), v1 = _mm512_set1_epi32(r1),
                  one = _mm512_set1_epi32(1);
    __m512i b0 = _mm512_setzero_si512(), b1 = b0;
    for (int i = 0; i < nv; i++) {
        __m512i c = _mm512_loadu_si512(pad + 16 * i);
        __m512i lt = _mm512_setzero_si512(), lt2 = lt;
        int j = 0;
        for (; j + 2 <= n; j += 2) {
            lt = _mm512_mask_add_epi32(lt, _mm512_cmpgt_epu32_mask(c, _mm512_set1_epi32((int)s[j])),
                                       lt, one);
            lt2 = _mm512_mask_add_epi32(
                lt2, _mm512_cmpgt_epu32_mask(c, _mm512_set1_epi32((int)s[j + 1])), lt2, one);
        }
        if (j < n)
            lt = _mm512_mask_add_epi32(lt, _mm512_cmpgt_epu32_mask(c, _mm512_set1_epi32((int)s[j])),
                                       lt, one);
        lt = _mm512_add_epi32(lt, lt2);
        b0 = _mm512_mask_max_epu32(b0, _mm512_cmple_epi32_mask(lt, v0), b0, c);
        b1 = _mm512_mask_max_epu32(b1, _mm512_cmple_epi32_mask(lt, v1), b1, c);
    }
    *k0 = (uint32_t)_mm512_reduce_max_epu32(b0);
    *k1 = (uint32_t)_mm512_reduce_max_epu32(b1);
}

QS_TARGET_AVX512 static int filter_band_avx512(uint32_t *dst, int *below, const uint32_t *src,
                                               int n, uint32_t lo, uint32_t hi) {
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

QS_TARGET_AVX512 static uint32_t max_below_avx512(const uint32_t *src, int n, uint32_t upper,
                                                  int *lt) {
    const __m512i absmask = _mm512_set1_epi32(0x7fffffff), vu = _mm512_set1_epi32((int)upper);
    __m512i mx = _mm512_setzero_si512();
    int c = 0, i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i u = _mm512_and_si512(_mm512_loadu_si512(src + i), absmask);
        __mmask16 m = _mm512_cmplt_epu32_mask(u, vu);
        c += _mm_popcnt_u32(m);
        mx = _mm512_mask_max_epu32(mx, m, mx, u);
    }
    if (i < n) {
        __mmask16 t = (__mmask16)((1u << (n - i)) - 1);
        __m512i u = _mm512_and_si512(_mm512_maskz_loadu_epi32(t, src + i), absmask);
        __mmask16 m = _mm512_mask_cmplt_epu32_mask(t, u, vu);
        c += _mm_popcnt_u32(m);
        mx = _mm512_mask_max_epu32(mx, m, mx, u);
    }
    *lt = c;
    return (uint32_t)_mm512_reduce_max_epu32(mx);
}

/* rounds to 32 keys: a median of 64 values 156 -> 127 ns, of 172 237 -> 225, of 2048 1014 ->
 * 994 against rounds to 64 (one Zen 4 thread, 256 rows each); 16 was slower for 172 up */
static const band_ops ops_avx512 = {rank_small_avx512, filter_band_avx512, max_below_avx512, 32};
#endif

/* Below this many values the scalar path's quickselect beats ranking the last 64 keys all
 * against all. */
#define SCALAR_QUICKSELECT_MAX 256

double qs__median_abs_keys(int path, const float *v, int n, uint32_t *a, uint32_t *b) {
#if QS_HAVE_X86_SIMD
    if (path >= QS_CPU_AVX512) return median_keys(&ops_avx512, v, n, a, b);
    if (path == QS_CPU_AVX2) {
        pthread_once(&compress_once, compress_lut_build);
        return median_keys(&ops_avx2, v, n, a, b);
    }
#endif
    /* a has room for n floats; nothing reads it as keys in this call */
    if (n <= SCALAR_QUICKSELECT_MAX) return qs_select_median_abs((float *)(void *)a, v, n);
    return median_keys(&ops_scalar, v, n, a, b);
}
