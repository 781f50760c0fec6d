#ifndef PARE_CPNG_SHIM_H
#define PARE_CPNG_SHIM_H
/* libpng's simplified API (png_image_*): errors come back as return values and a message,
   with no setjmp for Swift to cross. */
#include <png.h>
#endif
