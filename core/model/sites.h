/* Capture sites, named the same way on the command line, in Lua and in HDF5:
 * blk.<layer>.<site>. Every *_in site is the input of a linear layer, where activation
 * quantization happens. `resid` is the residual stream entering a block; layer L (one past
 * the last block) is the stream after the last block. k_cache and v_cache are the rows of
 * the KV cache a forward call writes (positions pos0..pos0+T-1), seen before any query reads
 * them: a hook that changes them in place changes what every later query attends to. */
#ifndef QS_SITES_H
#define QS_SITES_H

enum qs_site {
    QS_SITE_RESID = 0,   /* (T, D) */
    QS_SITE_ATTN_IN,     /* (T, D) RMSNorm output, input of q/k/v */
    QS_SITE_ATTN_O_IN,   /* (T, Q) attention output, input of o */
    QS_SITE_FFN_IN,      /* (T, D) RMSNorm output, input of gate/up */
    QS_SITE_FFN_DOWN_IN, /* (T, H) silu(gate) * up, input of down */
    QS_SITE_K_CACHE,     /* (T, K) keys after RoPE as written to the cache, kv head-major */
    QS_SITE_V_CACHE,     /* (T, K) values as written to the cache */
    QS_SITE_COUNT
};

#define QS_SITE_BIT(s) (1u << (s))
#define QS_SITE_ALL    ((1u << QS_SITE_COUNT) - 1u)
#define QS_SITE_KV     (QS_SITE_BIT(QS_SITE_K_CACHE) | QS_SITE_BIT(QS_SITE_V_CACHE))

const char *qs_site_name(int site);
/* Returns the site for a name ("ffn_down_in"), or -1. */
int qs_site_from_name(const char *name);
/* Parses a comma-separated list ("attn_in,ffn_down_in" or "all") into a bit mask.
 * Returns QS_OK or QS_ERR_ARG naming the unknown word. */
int qs_site_mask_parse(const char *list, unsigned *mask);

#endif
