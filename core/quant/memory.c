#include "memory.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "quant.h"
#include <stdio.h>

void qs_mem_spec_default(qs_mem_spec *s) {
    memset(s, 0, sizeof *s);
    s->bits = 16;
    s->group = 128;
    s->scale_bits = 16;
    s->batch = 1;
    s->kv_bits = 16;
}

int qs_mem_compute(qs_mem_report *r, const qs_mem_spec *s) {
    memset(r, 0, sizeof *r);
    if (!(s->params >= 0) || !isfinite(s->params))
        return qs_error_set(QS_ERR_ARG, "memory: params must be a finite number >= 0");
    if (s->bits < 1 || s->bits > 32)
        return qs_error_set(QS_ERR_ARG, "memory: bits %d outside 1..32", s->bits);
    if (s->group < 0) return qs_error_set(QS_ERR_ARG, "memory: group must be >= 0");
    if (s->kv_bits < 1 || s->kv_bits > 32)
        return qs_error_set(QS_ERR_ARG, "memory: kv_bits %d outside 1..32", s->kv_bits);
    if (s->layers < 0 || s->kv_heads < 0 || s->head_dim < 0 || s->seq < 0 || s->batch < 0)
        return qs_error_set(QS_ERR_ARG,
                            "memory: layers, kv_heads, head_dim, seq, batch must be >= 0");
    r->weight_bytes = s->params * s->bits / 8.0;
    /* fp16/bf16/f32 weights carry no scales */
    double meta_bits =
        s->bits < 16 && s->group > 0 ? (double)(s->scale_bits + s->zero_point_bits) : 0;
    r->scale_bytes = s->group > 0 ? s->params / s->group * meta_bits / 8.0 : 0;
    r->bits_per_weight = s->bits + (s->group > 0 ? meta_bits / s->group : 0);
    /* K and V, per layer, per kv head, per position, per request */
    double kvb = s->kv_bits_per_value > 0 ? s->kv_bits_per_value : s->kv_bits;
    r->kv_bits_per_value = kvb;
    r->kv_bytes =
        2.0 * s->layers * s->kv_heads * s->head_dim * (double)s->seq * s->batch * kvb / 8.0;
    r->total_bytes = r->weight_bytes + r->scale_bytes + r->kv_bytes;
    return QS_OK;
}

int qs_mem_kv_bits(double *bits, const char *kv_config, int kv_heads, int head_dim, long seq) {
    char name[512];
    if (!kv_config || snprintf(name, sizeof name, "W16A16 %s", kv_config) >= (int)sizeof name)
        return qs_error_set(QS_ERR_ARG, "memory: bad KV config");
    qs_quant_config c;
    int rc = qs_quant_config_parse(&c, name);
    if (rc) return rc;
    if (c.kv.k.bits == QS_QUANT_BITS_NONE) {
        *bits = 16.0;
        return QS_OK;
    }
    double sum = 0;
    for (int i = 0; i < 2; i++) {
        const qs_quant_spec *sp = i ? &c.kv.v : &c.kv.k;
        long row = (long)kv_heads * head_dim, elems = row;
        if (sp->gran == QS_QUANT_COL) elems = seq;
        if (sp->gran == QS_QUANT_GROUP) elems = sp->group;
        if (sp->gran == QS_QUANT_TENSOR) elems = row * seq;
        sum += qs_quant_bits_nominal(sp, elems > 0 ? elems : 1);
    }
    *bits = sum / 2;
    return QS_OK;
}
