/* Input validation shared by the analysis modules (not public API): they check every
 * element before entering a parallel loop, because an OpenMP region cannot report errors. */
#ifndef QS_FINITE_H
#define QS_FINITE_H

#include <stdint.h>

/* Index of the first NaN or infinity in x[0..n), or -1 when all are finite. The scan runs
 * in parallel but the answer is the lowest index, whatever the thread count. */
int64_t qs__first_nonfinite(const float *x, int64_t n);

#endif
