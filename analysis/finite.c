#include "finite.h"

#include <string.h>

/* NaN and ±inf are exactly the floats whose exponent bits are all ones; testing the bits
 * keeps the common (all finite) path a branch-free loop the compiler vectorizes. */
static inline int nonfinite(float v) {
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return (b & 0x7f800000u) == 0x7f800000u;
}

int64_t qs__first_nonfinite(const float *x, int64_t n) {
    int64_t first = INT64_MAX;
    const int64_t block = 1 << 14;
    int64_t nblocks = (n + block - 1) / block;
    /* blocks are scanned independently; a min-reduction picks the lowest bad index */
#pragma omp parallel for schedule(static) reduction(min : first) if (nblocks > 1)
    for (int64_t b = 0; b < nblocks; b++) {
        int64_t i0 = b * block, i1 = i0 + block < n ? i0 + block : n;
        int any = 0;
        for (int64_t i = i0; i < i1; i++) any |= nonfinite(x[i]);
        if (!any) continue;
        for (int64_t i = i0; i < i1; i++)
            if (nonfinite(x[i])) {
                if (i < first) first = i;
                break;
            }
    }
    return first == INT64_MAX ? -1 : first;
}
