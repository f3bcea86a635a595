/* Remedy words in config names (core/quant/remedy_words.h): each parses, prints in its
 * canonical form, and reads back to the same config; misuse is refused with a message
 * naming the word. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "quant.h"

static void roundtrip(const char *in, const char *want) {
    qs_quant_config c, d;
    char out[512], again[512];
    int rc = qs_quant_config_parse(&c, in);
    CHECK_MSG(rc == 0, "'%s': %s", in, qs_error_message());
    if (rc) return;
    CHECK(qs_quant_config_format(out, sizeof out, &c) == 0);
    CHECK_MSG(strcmp(out, want) == 0, "'%s' printed as '%s', expected '%s'", in, out, want);
    CHECK(qs_quant_config_parse(&d, out) == 0 &&
          memcmp(&c.remedy, &d.remedy, sizeof c.remedy) == 0);
    CHECK(qs_quant_config_format(again, sizeof again, &d) == 0 && strcmp(again, out) == 0);
}

static void refused(const char *in, const char *needle) {
    qs_quant_config c;
    int rc = qs_quant_config_parse(&c, in);
    CHECK_MSG(rc == QS_ERR_ARG && strstr(qs_error_message(), needle),
              "'%s': rc %d, message '%s' (expected '%s')", in, rc, qs_error_message(), needle);
    CHECK(!qs_remedy_any(&c.remedy)); /* a refused name leaves the default */
}

int main(void) {
    roundtrip("W8A8 per-tensor smooth:0.85", "W8A8 per-tensor smooth:0.85");
    roundtrip("W8A8 smooth per-tensor", "W8A8 per-tensor smooth");
    roundtrip("W4A4 per-token rotate", "W4A4 per-token rotate");
    roundtrip("W4A4 rotate:heads,down,resid", "W4A4 per-token rotate");
    roundtrip("W4A4 rotate:resid,seed=7", "W4A4 per-token rotate:resid,seed=7");
    roundtrip("W4A4 rotate:seed=7", "W4A4 per-token rotate:seed=7");
    roundtrip("W4A4 rotate:down,resid", "W4A4 per-token rotate:resid,down");
    roundtrip("W8A8 per-tensor decompose", "W8A8 per-tensor decompose:6");
    roundtrip("W8A8 per-tensor decompose:4.5", "W8A8 per-tensor decompose:4.5");
    roundtrip("W4A16 g128 gptq", "W4A16 g128 gptq");
    roundtrip("W4A16 g128 gptq:act-order", "W4A16 g128 gptq:act-order");
    roundtrip("W4A16 g128 gptq:damp=0.1,act-order", "W4A16 g128 gptq:act-order,damp=0.1");
    roundtrip("W4A16 g128 gptq:damp=0.01", "W4A16 g128 gptq");
    roundtrip("W4A16 g128 awq", "W4A16 g128 awq");
    roundtrip("W4A16 awq:0.5 g128", "W4A16 g128 awq:0.5");
    roundtrip("W4A4 decompose gptq rotate", "W4A4 per-token rotate gptq decompose:6");
    roundtrip("W16A16 rotate", "W16A16 rotate");
    roundtrip("W16A8 per-token smooth:1", "W16A8 per-token smooth:1");
    qs_quant_config c;
    CHECK(qs_quant_config_parse(&c, "W8A8 per-tensor smooth:0.5 decompose") == 0);
    CHECK(c.remedy.smooth && c.remedy.smooth_alpha == 0.5 && c.remedy.decompose == 6.0);
    CHECK(!c.remedy.rotate && !c.remedy.gptq && !c.remedy.awq);
    CHECK(c.a.spec.gran == QS_QUANT_TENSOR && c.w.spec.gran == QS_QUANT_TENSOR);
    CHECK(qs_quant_config_parse(&c, "W4A16 g128") == 0 && !qs_remedy_any(&c.remedy));

    refused("W4A16 smooth:1.5", "exponent");
    refused("W4A16 smooth:x", "exponent");
    refused("W4A16 g128 smooth awq", "choose one");
    refused("W16A8 gptq", "W16");
    refused("W16A8 awq", "W16");
    refused("W8A16 decompose", "A16");
    refused("W8A8 decompose:0", "threshold");
    refused("W8A8 decompose:-2", "threshold");
    refused("W4A4 rotate rotate", "second");
    refused("W4A4 rotate:left", "unknown rotate part");
    refused("W4A4 rotate:resid,resid", "twice");
    refused("W4A4 rotate:", "empty");
    refused("W4A4 rotate:resid,", "empty");
    refused("W4A4 rotate:seed=x", "seed");
    refused("W4A16 gptq:fast", "unknown or repeated gptq option");
    refused("W4A16 gptq:damp=-1", "damp");
    refused("W4A16 w:gptq", "unknown word");
    return check_summary("test_remedy_words");
}
