#include "moments.h"

#include <math.h>

qs_moments qs_moments_of(const float *x, int64_t n, int64_t stride) {
    qs_moments m = {0, 0.0, 0.0, 0.0, 0.0};
    if (n <= 0) return m;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += x[i * stride];
    double mean = sum / (double)n;
    double m2 = 0.0, m3 = 0.0, m4 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i * stride] - mean;
        double d2 = d * d;
        m2 += d2;
        m3 += d2 * d;
        m4 += d2 * d2;
    }
    m.n = n;
    m.mean = mean;
    m.m2 = m2;
    m.m3 = m3;
    m.m4 = m4;
    return m;
}

/* Pébay (2008), eqs. 3.1 and 3.2 with δ = mean_b - mean_a:
 *   M2 = M2a + M2b + δ² na nb / n
 *   M3 = M3a + M3b + δ³ na nb (na - nb) / n² + 3δ (na M2b - nb M2a) / n
 *   M4 = M4a + M4b + δ⁴ na nb (na² - na nb + nb²) / n³
 *        + 6δ² (na² M2b + nb² M2a) / n² + 4δ (na M3b - nb M3a) / n */
qs_moments qs_moments_merge(qs_moments a, qs_moments b) {
    if (a.n == 0) return b;
    if (b.n == 0) return a;
    double na = (double)a.n, nb = (double)b.n, n = na + nb;
    double d = b.mean - a.mean;
    double dn = d / n;
    double dn2 = dn * dn;
    double nanb = na * nb;
    qs_moments r;
    r.n = a.n + b.n;
    r.mean = a.mean + dn * nb;
    r.m2 = a.m2 + b.m2 + d * dn * nanb;
    r.m3 = a.m3 + b.m3 + d * dn2 * nanb * (na - nb) + 3.0 * dn * (na * b.m2 - nb * a.m2);
    r.m4 = a.m4 + b.m4 + d * dn2 * dn * nanb * (na * na - nanb + nb * nb) +
           6.0 * dn2 * (na * na * b.m2 + nb * nb * a.m2) + 4.0 * dn * (na * b.m3 - nb * a.m3);
    return r;
}

double qs_moments_variance(const qs_moments *m) {
    if (m->n == 0) return NAN;
    return m->m2 / (double)m->n;
}

double qs_moments_skewness(const qs_moments *m) {
    if (m->n == 0 || !(m->m2 > 0.0)) return NAN;
    return sqrt((double)m->n) * m->m3 / pow(m->m2, 1.5);
}

double qs_moments_kurtosis(const qs_moments *m) {
    if (m->n == 0 || !(m->m2 > 0.0)) return NAN;
    return (double)m->n * m->m4 / (m->m2 * m->m2);
}

double qs_moments_excess_kurtosis(const qs_moments *m) { return qs_moments_kurtosis(m) - 3.0; }
