/* Fuzz target: Hugging Face config.json (qs_hf_config_parse, the code qs_hf_config_load
 * runs on the file's bytes). A config that parses must also pass qs_config_validate. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "error.h"
#include "fuzz_common.h"
#include "hf_config.h"
#include "model.h"

int qs_fuzz_hf_config(const uint8_t *data, size_t size) {
    qs_config c;
    int rc = qs_hf_config_parse(&c, (const char *)data, size, "fuzz/config.json");
    if (rc != QS_OK) {
        if (qs_error_message()[0] == '\0') abort();
        return 0;
    }
    if (qs_config_validate(&c, "fuzz/config.json") != QS_OK) abort();
    return 1;
}

QS_FUZZ_ENTRY(qs_fuzz_hf_config)
