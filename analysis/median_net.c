/* Exact medians of |x| of many short rows at once: a selection network run with one row
 * per vector lane (simd.h, qs__median_abs_rows).
 *
 * Selecting within one row costs passes over the row plus horizontal steps, about 130 ns
 * for 64 values (select.c), and a 64-wide model pays that for every token at every site.
 * A comparator network does the same fixed min/max steps for every row, so 8 rows run
 * together, one per lane, with no branch and no horizontal step. The network is Batcher's
 * odd-even merge sort for the next power of two, cut down when it is built: the wires past
 * C hold +inf (key 0x7fffffff), so a comparator against one is dropped or becomes a
 * renaming, and a comparator whose outputs never reach the middle rank(s) is dropped. It
 * sorts exactly (min/max on the keys of simd.h), so the median is the definition's, bit
 * for bit. Letters: T rows, C values per row. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "simd.h"

/* One network for C values: n comparators (pairs[2i] gets the min, pairs[2i + 1] the max;
 * wire indices below C) and the wires holding sorted ranks C/2 - 1 and C/2 at the end.
 * With groups8, C is a multiple of 8 and the network starts from wires already sorted in
 * groups of 8 (0-7, 8-15, ...): the kernel sorts those in registers as it loads them, and
 * the list holds only the merges after that. */
typedef struct median_net {
    int n;
    uint16_t *pairs;
    int lo, hi;
    int groups8;
} median_net;

static _Atomic(median_net *) nets[QS__MEDIAN_NET_MAX_C + 1];
static pthread_mutex_t nets_lock = PTHREAD_MUTEX_INITIALIZER;

/* Builds the cut-down network for C values (1 <= C <= QS__MEDIAN_NET_MAX_C); NULL when out
 * of memory. */
static median_net *net_build(int C) {
    int N = 1;
    while (N < C) N <<= 1;
    /* wire w of the sorting network lives in slot map[w]; slots >= C hold +inf */
    int map[QS__MEDIAN_NET_MAX_C];
    for (int w = 0; w < N; w++) map[w] = w;
    size_t cap = 64, n = 0;
    uint16_t *all = malloc(2 * cap * sizeof *all);
    if (!all) return NULL;
    /* Batcher's first three levels sort each group of 8 wires; any sorting network gives
     * the same sorted groups, so with whole groups the kernel does those in registers */
    const int groups8 = C % 8 == 0;
    for (int p = groups8 ? 8 : 1; p < N; p <<= 1)
        for (int k = p; k >= 1; k >>= 1)
            for (int j = k % p; j + k < N; j += 2 * k)
                for (int i = 0; i < k && i + j + k < N; i++) {
                    if ((i + j) / (2 * p) != (i + j + k) / (2 * p)) continue;
                    int a = i + j, b = i + j + k; /* min to a, max to b */
                    if (map[b] >= C) continue;    /* b is +inf already: nothing moves */
                    if (map[a] >= C) {            /* a is +inf: the two swap */
                        int s = map[a];
                        map[a] = map[b];
                        map[b] = s;
                        continue;
                    }
                    if (n == cap) {
                        uint16_t *g = realloc(all, 4 * cap * sizeof *g);
                        if (!g) {
                            free(all);
                            return NULL;
                        }
                        all = g;
                        cap *= 2;
                    }
                    all[2 * n] = (uint16_t)map[a];
                    all[2 * n + 1] = (uint16_t)map[b];
                    n++;
                }
    /* keep, from the end back, the comparators whose outputs reach a needed slot */
    median_net *net = malloc(sizeof *net);
    unsigned char live[QS__MEDIAN_NET_MAX_C] = {0};
    if (!net) {
        free(all);
        return NULL;
    }
    net->hi = map[C / 2];
    net->lo = map[C % 2 ? C / 2 : C / 2 - 1];
    live[net->lo] = live[net->hi] = 1;
    size_t kept = n;
    for (size_t i = n; i-- > 0;) {
        int a = all[2 * i], b = all[2 * i + 1];
        if (!live[a] && !live[b]) continue;
        live[a] = live[b] = 1;
        kept--;
        all[2 * kept] = (uint16_t)a;
        all[2 * kept + 1] = (uint16_t)b;
    }
    memmove(all, all + 2 * kept, 2 * (n - kept) * sizeof *all);
    net->n = (int)(n - kept);
    net->pairs = all;
    net->groups8 = groups8;
    return net;
}

/* The network for C, built once per process and shared by every thread. */
static const median_net *net_for(int C) {
    median_net *net = atomic_load_explicit(&nets[C], memory_order_acquire);
    if (net) return net;
    pthread_mutex_lock(&nets_lock);
    net = atomic_load_explicit(&nets[C], memory_order_relaxed);
    if (!net && (net = net_build(C))) atomic_store_explicit(&nets[C], net, memory_order_release);
    pthread_mutex_unlock(&nets_lock);
    return net;
}

/* The definition's median from the two middle keys (equal for odd C). */
static double median_of(uint32_t lo, uint32_t hi, int C) {
    if (C % 2) return (double)qs__bits_float(hi);
    return 0.5 * ((double)qs__bits_float(lo) + (double)qs__bits_float(hi));
}

#if QS_HAVE_X86_SIMD
#include <immintrin.h>

/* One comparator: a gets the min, b the max. */
#define CMP8(a, b)                            \
    do {                                      \
        __m256i lo_ = _mm256_min_epu32(a, b); \
        (b) = _mm256_max_epu32(a, b);         \
        (a) = lo_;                            \
    } while (0)

/* Rows r0 .. r0 + 7 (row r at rows[r]), channels c .. c + 7: keys transposed into w[0..8)
 * (channel per vector, row per lane) and sorted across the 8 by the 19-comparator network
 * of Knuth (depth 6). */
QS_TARGET_AVX2 static void load_sort8(__m256i *w, const float *const *rows, int c) {
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff);
    __m256 r[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(rows[i] + c);
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
    __m256 v[8] = {
        _mm256_permute2f128_ps(u0, u4, 0x20), _mm256_permute2f128_ps(u1, u5, 0x20),
        _mm256_permute2f128_ps(u2, u6, 0x20), _mm256_permute2f128_ps(u3, u7, 0x20),
        _mm256_permute2f128_ps(u0, u4, 0x31), _mm256_permute2f128_ps(u1, u5, 0x31),
        _mm256_permute2f128_ps(u2, u6, 0x31), _mm256_permute2f128_ps(u3, u7, 0x31),
    };
    __m256i k0 = _mm256_and_si256(_mm256_castps_si256(v[0]), absmask);
    __m256i k1 = _mm256_and_si256(_mm256_castps_si256(v[1]), absmask);
    __m256i k2 = _mm256_and_si256(_mm256_castps_si256(v[2]), absmask);
    __m256i k3 = _mm256_and_si256(_mm256_castps_si256(v[3]), absmask);
    __m256i k4 = _mm256_and_si256(_mm256_castps_si256(v[4]), absmask);
    __m256i k5 = _mm256_and_si256(_mm256_castps_si256(v[5]), absmask);
    __m256i k6 = _mm256_and_si256(_mm256_castps_si256(v[6]), absmask);
    __m256i k7 = _mm256_and_si256(_mm256_castps_si256(v[7]), absmask);
    CMP8(k0, k2);
    CMP8(k1, k3);
    CMP8(k4, k6);
    CMP8(k5, k7);
    CMP8(k0, k4);
    CMP8(k1, k5);
    CMP8(k2, k6);
    CMP8(k3, k7);
    CMP8(k0, k1);
    CMP8(k2, k3);
    CMP8(k4, k5);
    CMP8(k6, k7);
    CMP8(k2, k4);
    CMP8(k3, k5);
    CMP8(k1, k4);
    CMP8(k3, k6);
    CMP8(k1, k2);
    CMP8(k3, k4);
    CMP8(k5, k6);
    w[0] = k0, w[1] = k1, w[2] = k2, w[3] = k3, w[4] = k4, w[5] = k5, w[6] = k6, w[7] = k7;
}

/* Rows t0 .. t0 + nr - 1 (nr <= 8): keys into w (C, 8), row r in lane r (lanes past nr
 * hold 0), then the network, then the two middle keys. Whole groups of 8 channels are
 * loaded as 8 x 8 tiles and sorted in registers; other widths are gathered. Eight lanes
 * on AVX-512 CPUs too: the network is bound by its loads and stores, and on Zen 4 16-lane
 * ones cost twice as much (a 64-wide row: 62 ns with 8 lanes, 70-78 with 16). */
QS_TARGET_AVX2 static void block_avx2(double *med, const float *x, int nr, int C,
                                      const median_net *net, __m256i *w) {
    if (net->groups8) {
        static const float zeros[QS__MEDIAN_NET_MAX_C]; /* the rows past nr */
        const float *rows[8];
        for (int r = 0; r < 8; r++) rows[r] = r < nr ? x + (size_t)r * C : zeros;
        for (int c = 0; c < C; c += 8) load_sort8(w + c, rows, c);
    } else {
        const __m256i absmask = _mm256_set1_epi32(0x7fffffff);
        const __m256i idx =
            _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(C));
        const __m256i m =
            _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        for (int c = 0; c < C; c++)
            w[c] = _mm256_and_si256(_mm256_mask_i32gather_epi32(_mm256_setzero_si256(),
                                                                (const int *)(const void *)(x + c),
                                                                idx, m, 4),
                                    absmask);
    }
    const uint16_t *p = net->pairs;
    for (int i = 0; i < net->n; i++, p += 2) {
        __m256i a = w[p[0]], b = w[p[1]];
        w[p[0]] = _mm256_min_epu32(a, b);
        w[p[1]] = _mm256_max_epu32(a, b);
    }
    uint32_t lo[8], hi[8];
    _mm256_storeu_si256((__m256i *)lo, w[net->lo]);
    _mm256_storeu_si256((__m256i *)hi, w[net->hi]);
    for (int r = 0; r < nr; r++) med[r] = median_of(lo[r], hi[r], C);
}
#endif

int qs__median_abs_rows(int path, double *med, const float *x, int T, int C) {
#if QS_HAVE_X86_SIMD
    if (path < QS_CPU_AVX2 || C < 1 || C > QS__MEDIAN_NET_MAX_C) return 0;
    const median_net *net = net_for(C);
    if (!net) return 0;
#pragma omp parallel if ((int64_t)T * C >= QS__PAR_MIN_ELEMENTS)
    {
        _Alignas(32) uint32_t w[QS__MEDIAN_NET_MAX_C * 8]; /* (C, 8) keys */
#pragma omp for schedule(dynamic, 8)
        for (int t0 = 0; t0 < T; t0 += 8) {
            const int nr = T - t0 < 8 ? T - t0 : 8;
            block_avx2(med + t0, x + (size_t)t0 * C, nr, C, net, (__m256i *)(void *)w);
        }
    }
    return 1;
#else
    (void)path, (void)med, (void)x, (void)T, (void)C;
    return 0;
#endif
}
