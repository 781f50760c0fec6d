#ifndef PARE_CZLIB_SHIM_H
#define PARE_CZLIB_SHIM_H
#include <zlib.h>
/* inflateInit2 is a macro Swift cannot import. */
static inline int pare_inflate_init_gzip(z_stream *strm) {
    return inflateInit2(strm, 16 + MAX_WBITS);
}
/* Raw deflate (no header): the entries of a zip archive such as NumPy's .npz. */
static inline int pare_inflate_init_raw(z_stream *strm) {
    return inflateInit2(strm, -MAX_WBITS);
}
#endif
