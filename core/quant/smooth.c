/* SmoothQuant scales (smooth.h). */
#include "smooth.h"

#include <math.h>

#include "error.h"

#define S_MIN 1e-5
#define S_MAX 1e5

int qs_smooth_scales(float *s, const float *act_absmax, const float *w_absmax, int C,
                     double alpha) {
    if (C < 1) return qs_error_set(QS_ERR_ARG, "smooth: %d channels", C);
    if (!(alpha >= 0.0 && alpha <= 1.0))
        return qs_error_set(QS_ERR_ARG, "smooth: alpha %g outside [0, 1]", alpha);
    for (int j = 0; j < C; j++) {
        double a = act_absmax[j], w = w_absmax[j];
        if (!(isfinite(a) && a >= 0.0 && isfinite(w) && w >= 0.0))
            return qs_error_set(QS_ERR_NUMERIC,
                                "smooth: channel %d has activation absmax %g and weight absmax %g",
                                j, a, w);
    }
    for (int j = 0; j < C; j++) {
        double a = act_absmax[j], w = w_absmax[j];
        double v = a > 0.0 && w > 0.0 ? pow(a, alpha) / pow(w, 1.0 - alpha) : 1.0;
        s[j] = (float)(v < S_MIN ? S_MIN : v > S_MAX ? S_MAX : v);
    }
    return QS_OK;
}
