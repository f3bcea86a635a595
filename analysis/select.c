#include "select.h"

#include <math.h>
#include <stdlib.h>

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
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return;
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
