/* Replays the fuzz corpora through the fuzz targets' own code in the normal (and ASan) build:
 * every file in tests/fuzz/corpus/<target>/ and tests/fuzz/regressions/<target>/ goes
 * through qs_fuzz_<target>, which aborts on a broken invariant. Seeds named ok_* must be
 * accepted and seeds named bad_* refused; regression files (inputs that once crashed a
 * parser) only have to come back without a crash or a sanitizer report. */
#define QS_FUZZ_REPLAY
#include "../fuzz/fuzz_gguf.c"
#include "../fuzz/fuzz_gguf_dequant.c"
#include "../fuzz/fuzz_hf_config.c"
#include "../fuzz/fuzz_llama2c.c"
#include "../fuzz/fuzz_quant_config.c"
#include "../fuzz/fuzz_safetensors.c"
#include "../fuzz/fuzz_text.c"
#include "../fuzz/fuzz_tok_hf.c"
#include "../fuzz/fuzz_tok_llama2c.c"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fileio.h"

static const struct {
    const char *name;
    int (*fn)(const uint8_t *, size_t);
} targets[] = {
    {"gguf", qs_fuzz_gguf},
    {"gguf_dequant", qs_fuzz_gguf_dequant},
    {"hf_config", qs_fuzz_hf_config},
    {"llama2c", qs_fuzz_llama2c},
    {"quant_config", qs_fuzz_quant_config},
    {"safetensors", qs_fuzz_safetensors},
    {"text", qs_fuzz_text},
    {"tok_hf", qs_fuzz_tok_hf},
    {"tok_llama2c", qs_fuzz_tok_llama2c},
};

static char current[4200]; /* the file being replayed, named if a target aborts */

static void on_abort(int sig) {
    static const char msg[] = "test_fuzz_replay: invariant broken by ";
    (void)!write(2, msg, sizeof msg - 1);
    (void)!write(2, current, strlen(current));
    (void)!write(2, "\n", 1);
    signal(sig, SIG_DFL);
    raise(sig);
}

static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* The file in a buffer of exactly its size (ASan then sees any read past the end); empty
 * files are seeds too. NULL if unreadable. */
static uint8_t *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *b = n >= 0 ? malloc(n ? (size_t)n : 1) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return b;
}

/* Replays every regular file in dir; returns how many. */
static int replay_dir(const char *dir, int (*fn)(const uint8_t *, size_t), int named_checks) {
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, by_name);
    if (n < 0) return 0;
    int count = 0;
    for (int i = 0; i < n; i++) {
        const char *f = ents[i]->d_name;
        snprintf(current, sizeof current, "%s/%s", dir, f);
        if (f[0] != '.' && !qs_path_is_dir(current) && strcmp(f, "README.md") != 0) {
            size_t size;
            uint8_t *data = read_all(current, &size);
            CHECK_MSG(data != NULL, "cannot read %s", current);
            if (data) {
                int accepted = fn(data, size);
                free(data);
                if (named_checks && strncmp(f, "ok_", 3) == 0)
                    CHECK_MSG(accepted, "%s should be accepted: %s", current, qs_error_message());
                if (named_checks && strncmp(f, "bad_", 4) == 0)
                    CHECK_MSG(!accepted, "%s should be refused", current);
                count++;
            }
        }
        free(ents[i]);
    }
    free(ents);
    return count;
}

int main(void) {
    signal(SIGABRT, on_abort);
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        char dir[512];
        snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", targets[i].name);
        int seeds = replay_dir(dir, targets[i].fn, 1);
        CHECK_MSG(seeds >= 3, "%s: %d seeds (expected a corpus of at least 3)", dir, seeds);
        snprintf(dir, sizeof dir, "tests/fuzz/regressions/%s", targets[i].name);
        int regs = replay_dir(dir, targets[i].fn, 0);
        printf("%-12s %4d seeds, %3d regressions replayed\n", targets[i].name, seeds, regs);
    }
    return check_summary("test_fuzz_replay");
}
