#include "kv_quant.h"

#include <string.h>

#include "error.h"

int qs_kvq_init(qs_kvq *st, const qs_quant_kv *kv) {
    memset(st, 0, sizeof *st);
    st->kv = kv;
    int rc;
    if ((rc = qs_quant_spec_validate(&kv->k)) || (rc = qs_quant_spec_validate(&kv->v)))
        return qs_error_prefix(rc, "KV-cache config");
    return QS_OK;
}

static int kvq_fn(void *user, int site, int layer, float *x, int T, int C, int pos0) {
    (void)pos0;
    qs_kvq *st = user;
    const qs_quant_spec *sp = site == QS_SITE_K_CACHE ? &st->kv->k : &st->kv->v;
    if (sp->bits == QS_QUANT_BITS_NONE) return QS_OK;
    qs_quant_report rep;
    int rc = qs_quant_fake(x, x, T, C, sp, NULL, &rep); /* in place: the cache rows */
    if (rc) return qs_error_prefix(rc, "blk.%d.%s", layer, qs_site_name(site));
    st->calls++;
    st->clipped += rep.n_clipped;
    st->bits_sum += rep.bits_per_value;
    return QS_OK;
}

qs_hook qs_kvq_hook(qs_kvq *st) {
    unsigned mask = 0;
    if (st->kv->k.bits != QS_QUANT_BITS_NONE) mask |= QS_SITE_BIT(QS_SITE_K_CACHE);
    if (st->kv->v.bits != QS_QUANT_BITS_NONE) mask |= QS_SITE_BIT(QS_SITE_V_CACHE);
    return (qs_hook){kvq_fn, st, mask};
}

double qs_kvq_bits_per_value(const qs_kvq *st) {
    return st->calls ? st->bits_sum / (double)st->calls : 16.0;
}
