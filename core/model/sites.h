/* Capture sites, named the same way on the command line, in Lua and in HDF5:
 * blk.<layer>.<site>. Every *_in site is the input of a linear layer, where activation
 * quantization happens. `resid` is the residual stream entering a block; layer L (one past
 * the last block) is the stream after the last block. k_cache and v_cache are the rows of
 * the KV cache a forward call writes (positions pos0..pos0+T-1), seen before any query reads
 * them: a hook that changes them in place changes what every later query attends to. */
#ifndef QS_SITES_H
#define QS_SITES_H

#include <stddef.h>

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

struct qs_config; /* model.h */

const char *qs_site_name(int site);
/* Returns the site for a name ("ffn_down_in"), or -1. */
int qs_site_from_name(const char *name);
/* Parses a comma-separated list ("attn_in,ffn_down_in" or "all") into a bit mask.
 * Returns QS_OK or QS_ERR_ARG naming the unknown word. */
int qs_site_mask_parse(const char *list, unsigned *mask);

/* Layers a site has: n_layers, or n_layers + 1 at resid. */
int qs_site_layers(const struct qs_config *cfg, int site);
/* Channels at a site (the C of its (T, C) rows): dim, n_heads * head_dim at attn_o_in,
 * hidden_dim at ffn_down_in, n_kv_heads * head_dim at k_cache and v_cache. */
int qs_site_width(const struct qs_config *cfg, int site);

/* Keeping the first `want` rows (tokens) of a site x layer across windows, in window
 * order: of a window's T rows, how many still belong to them when `have` are kept
 * already (0 once full). Capture dumps and the sweep's captured activations use it. */
int qs_site_rows_take(long want, long have, int T);

/* Layer lists: one grammar wherever layers are written (qscope profile --layers, Lua's
 * layers=, config names' layers:):
 *     list = "all" | item { "," item }      item = N | A "-" B   (decimal, A <= B)
 * qs_layer_list_parse stores the layers of s, ascending and distinct, in layers[0..*n-1]
 * (room for cap); "all" gives *n = 0, meaning every layer. Errors: QS_ERR_ARG with the
 * reason alone as the message ("bad layer list", "layer out of range: 9 > 4", "too many
 * layers (at most 256)"), for the caller to place. */
#define QS_LAYER_MAX 1000000 /* the largest layer number a list may name */
int qs_layer_list_parse(const char *s, int max_layer, int *layers, int cap, int *n);
/* The canonical form of layers (ascending, distinct): runs of three or more as A-B, e.g.
 * "0,2-4". Returns QS_OK, or QS_ERR_ARG when it does not fit in size bytes. */
int qs_layer_list_format(char *buf, size_t size, const int *layers, int n);
/* The layer list s as a selection of a model's layers: sel[l] = 1 for each layer chosen,
 * sel (cfg->n_layers + 1 entries; entry n_layers is the stream after the last block,
 * which exists only at resid). Errors: QS_ERR_ARG naming the list and the model's range. */
int qs_site_layers_select(const struct qs_config *cfg, const char *s, unsigned char *sel);

#endif
