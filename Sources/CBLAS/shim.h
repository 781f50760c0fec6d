#ifndef PARE_CBLAS_SHIM_H
#define PARE_CBLAS_SHIM_H
#include <cblas.h>

/* Exported by Debian's DYNAMIC_ARCH OpenBLAS; used to re-pick the kernel set at
   startup when 0.3.21 falls back to "Prescott" on CPUs it does not know. */
void gotoblas_dynamic_init(void);
void gotoblas_dynamic_quit(void);

static inline int pare_cpu_has_avx512f(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}
static inline int pare_cpu_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif
