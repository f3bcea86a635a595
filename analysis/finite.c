#include "finite.h"

#include <math.h>

int64_t qs__first_nonfinite(const float *x, int64_t n) {
    int64_t first = INT64_MAX;
    const int64_t block = 1 << 14;
    int64_t nblocks = (n + block - 1) / block;
    /* blocks are scanned independently; a min-reduction picks the lowest bad index */
#pragma omp parallel for schedule(static) reduction(min : first) if (nblocks > 1)
    for (int64_t b = 0; b < nblocks; b++) {
        int64_t i0 = b * block, i1 = i0 + block < n ? i0 + block : n;
        for (int64_t i = i0; i < i1; i++) {
            if (!isfinite(x[i])) {
                if (i < first) first = i;
                break;
            }
        }
    }
    return first == INT64_MAX ? -1 : first;
}
