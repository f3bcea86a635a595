/* Orthogonal rotations that spread outlier channels over all channels (QuaRot-style
 * randomized Hadamard transforms). Pure numerics on row-major float matrices.
 *
 * The fast Walsh–Hadamard transform (WHT) of a row of n = 2^k values is the product with
 * the Sylvester Hadamard matrix H_n (H_1 = [1], H_2n = [[H_n, H_n], [H_n, -H_n]]), scaled by
 * 1/√n so that it is orthogonal and its own inverse: n·k additions instead of n² products.
 *
 * A rotation of size n is the orthogonal matrix
 *     R = diag(d) · (H_p ⊗ F_m) / √p,       n = p · m, p the largest power of two dividing n,
 * with d a random ±1 vector and F_m the m × m discrete Hartley matrix
 *     F_m[b][c] = (cos(2π·bc/m) + sin(2π·bc/m)) / √m      (bc taken mod m first),
 * which is orthogonal and symmetric (F_1 = [1], so a power-of-two size is a plain
 * randomized Hadamard). Index j of a row splits as j = a·m + b (a < p, b < m). Applying R
 * to a row x (x ← x·R) multiplies x by d, then each of the p consecutive runs of m values by
 * F_m (run ← run · F_m), then the WHT across the runs (the p values at the same b, stride
 * m), scaled by 1/√p.
 *
 * This is the documented fallback for sizes such as 172 = 4·43 or 11008 = 256·43, where no
 * Sylvester matrix exists (QuaRot ships hand-made Hadamard matrices of order 172 instead).
 * What matters for spreading an outlier channel is how flat the rows of R are: a Hadamard
 * row has every |entry| = 1/√n, so a channel K times larger than the rest becomes n channels
 * of K/√n and the values stay near-Gaussian (kurtosis 3). F_m's entries are at most √(2/m)
 * in magnitude (√2 from flat), and a spike rotated by it has kurtosis 4.5 instead of 3; a
 * dense random orthogonal factor, the other textbook choice, has entries up to ≈ 3.7/√m at
 * m = 43 and gives kurtosis 6–15, so qscope uses F_m.
 *
 * Randomness, reproducible anywhere from its description: splitmix64 seeded with `seed`
 * (state += 0x9E3779B97F4A7C15; z = state; z = (z ^ z>>30)·0xBF58476D1CE4E5B9;
 * z = (z ^ z>>27)·0x94D049BB133111EB; out = z ^ z>>31, all mod 2^64); d_j = −1 when bit 63
 * of output j (j = 0 .. n−1) is set, else +1.
 *
 * Letters: R rows of the matrix being rotated, n the rotated dimension, p, m as above. */
#ifndef QS_HADAMARD_H
#define QS_HADAMARD_H

#include <stdint.h>

/* x (rows, n) ← each row times H_n/√n, in place. n must be a power of two (1 allowed);
 * anything else is an invariant violation (QS_ASSERT). The fast version takes the CPU's
 * SIMD path (core/base/cpu.h) and runs rows in parallel (OpenMP) when there is enough
 * work; _ref is plain scalar code. Both give the same bits: the butterflies are exact
 * additions and subtractions in the same order, then one multiplication by 1/√n. */
void qs_wht_rows(float *x, int rows, int n);
void qs_wht_rows_ref(float *x, int rows, int n);

/* 1 if n is a power of two (n >= 1). */
int qs_is_pow2(long n);

typedef struct qs_rotation {
    int n;         /* size */
    int p, m;      /* n = p·m, p the largest power of two dividing n */
    uint64_t seed; /* splitmix64 seed d came from */
    float *d;      /* (n) ±1 */
    float *q;      /* (m, m) F_m, row-major; NULL when m == 1 */
} qs_rotation;

/* Builds the rotation of size n from seed (see above). Errors: QS_ERR_ARG (n < 1, or an odd
 * factor m above QS_ROTATION_MAX_M: its m² products per run would dominate the transform),
 * QS_ERR_NOMEM. On error r is empty (qs_rotation_free is harmless). */
#define QS_ROTATION_MAX_M 4096
int qs_rotation_init(qs_rotation *r, int n, uint64_t seed);
void qs_rotation_free(qs_rotation *r);

/* x (rows, n) ← x · R, each row rotated, in place. Fast and _ref give the same bits (the
 * F_m products are summed in the same order in both, with no fused multiply-add). */
void qs_rotation_rows(const qs_rotation *r, float *x, int rows);
void qs_rotation_rows_ref(const qs_rotation *r, float *x, int rows);

/* x (rows, n) ← x · Rᵀ, the inverse (R is orthogonal). */
void qs_rotation_rows_inv(const qs_rotation *r, float *x, int rows);

/* x (n, cols) ← Rᵀ · x: every column rotated, i.e. xᵀ ← xᵀ · R. What a weight that writes
 * into a rotated space needs (its output dimension is n). */
int qs_rotation_cols(const qs_rotation *r, float *x, int cols);

/* splitmix64 as described above: advances *state and returns the next output. */
uint64_t qs_splitmix64(uint64_t *state);

#endif
