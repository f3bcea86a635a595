#include "simd.h"

#include "cpu.h"

int qs__use_avx512(void) { return QS_HAVE_AVX512 && qs_cpu_path() >= QS_CPU_AVX512; }
