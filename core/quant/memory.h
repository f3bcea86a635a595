/* Memory arithmetic of a quantized deployment (the seed's §6): weight bytes at b bits,
 * the scale (and zero-point) metadata of group-wise quantization, and the KV cache. */
#ifndef QS_MEMCALC_H
#define QS_MEMCALC_H

typedef struct qs_mem_spec {
    double params;       /* weights that are quantized */
    int bits;            /* weight bits (16 = fp16, no metadata) */
    long group;          /* elements per scale; 0 = per-channel over `cols` */
    int scale_bits;      /* 16 (fp16) by default */
    int zero_point_bits; /* 0 for symmetric; b for affine */
    int layers, kv_heads, head_dim;
    long seq, batch;
    int kv_bits; /* 16 by default */
} qs_mem_spec;

typedef struct qs_mem_report {
    double weight_bytes, scale_bytes, kv_bytes, total_bytes;
    double bits_per_weight; /* bits + metadata bits per element */
} qs_mem_report;

void qs_mem_spec_default(qs_mem_spec *s);
int qs_mem_compute(qs_mem_report *r, const qs_mem_spec *s);

#endif
