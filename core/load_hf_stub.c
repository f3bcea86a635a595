/* Placeholder until the Hugging Face loader lands (deleted when it does). */
#include "error.h"
#include "model.h"
int qs__load_hf(qs_model **out, const char *path) {
    *out = NULL;
    return qs_error_set(QS_ERR_UNSUPPORTED, "%s: Hugging Face directories are not supported yet", path);
}
