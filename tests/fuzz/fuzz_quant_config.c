/* Fuzz target: quantization config names (qs_quant_config_parse, what `qscope eval` and
 * the Lua module run on a name). A name that parses must print (qs_quant_config_format)
 * and its printed form must parse back and print identically. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuzz_common.h"
#include "quant.h"

int qs_fuzz_quant_config(const uint8_t *data, size_t size) {
    char *name = malloc(size + 1); /* the parser takes a C string: it ends at the first NUL */
    if (!name) return 0;
    memcpy(name, data, size);
    name[size] = '\0';
    qs_quant_config c, c2;
    int rc = qs_quant_config_parse(&c, name);
    free(name);
    if (rc != QS_OK) {
        if (qs_error_message()[0] == '\0') abort();
        return 0;
    }
    char buf[512], buf2[512];
    if (qs_quant_config_format(buf, sizeof buf, &c) != QS_OK) abort();
    if (qs_quant_config_parse(&c2, buf) != QS_OK) abort();
    if (qs_quant_config_format(buf2, sizeof buf2, &c2) != QS_OK || strcmp(buf, buf2) != 0) abort();
    return 1;
}

QS_FUZZ_ENTRY(qs_fuzz_quant_config)
