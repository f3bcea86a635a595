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
    int kv_bits;              /* 16 by default */
    double kv_bits_per_value; /* > 0: overrides kv_bits (a quantized cache with its scales) */
} qs_mem_spec;

typedef struct qs_mem_report {
    double weight_bytes, scale_bytes, kv_bytes, total_bytes;
    double bits_per_weight;   /* bits + metadata bits per element */
    double kv_bits_per_value; /* the cache's bits per value (kv_bits or kv_bits_per_value) */
} qs_mem_report;

void qs_mem_spec_default(qs_mem_spec *s);

/* Storage bits per cached value of a quantized cache named as in a config ("KV4 per-token",
 * "KV4 g32", "KV4 mxfp4", "KV8 fp8_e4m3 per-token"; the words after KV as in quant.h), with
 * its scales: one per position and layer over kv_heads·head_dim values (per-token), per
 * channel over seq positions (per-channel), per G values (gN), per layer (per-tensor); the
 * mean of keys and values. QS_ERR_ARG for a bad name. */
int qs_mem_kv_bits(double *bits, const char *kv_config, int kv_heads, int head_dim, long seq);
int qs_mem_compute(qs_mem_report *r, const qs_mem_spec *s);

#endif
