#ifndef PARE_CGSL_SHIM_H
#define PARE_CGSL_SHIM_H
/* Only the RNG and statistics headers: never GSL's blas/matrix headers, so the one
   CBLAS in the process is OpenBLAS's. */
#include <gsl/gsl_rng.h>
#include <gsl/gsl_statistics_double.h>
#include <gsl/gsl_errno.h>

/* gsl_rng_mt19937 is a C global pointer; an accessor keeps Swift 6 concurrency checks quiet. */
static inline const gsl_rng_type *pare_gsl_mt19937(void) { return gsl_rng_mt19937; }
#endif
