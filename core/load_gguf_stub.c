/* Placeholder until the GGUF loader lands (deleted when it does). */
#include "error.h"
#include "model.h"
int qs__load_gguf(qs_model **out, const char *path) {
    *out = NULL;
    return qs_error_set(QS_ERR_UNSUPPORTED, "%s: GGUF loading is not built in yet", path);
}
