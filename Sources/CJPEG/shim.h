#ifndef PARE_CJPEG_SHIM_H
#define PARE_CJPEG_SHIM_H
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

/* libjpeg reports errors by calling error_exit, which must not return: the shim longjmps back
   into pare_jpeg_decode (C frames only, never across Swift) and returns the message. The
   warnings that mean lost pixels (a truncated stream, a segment cut short, which libjpeg
   would paper over with grey) count as errors; harmless ones (extraneous bytes before a
   marker, common in files from the web, which PIL also reads) do not. */
struct pare_jpeg_error {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void pare_jpeg_error_exit(j_common_ptr info) {
    struct pare_jpeg_error *e = (struct pare_jpeg_error *)info->err;
    (*info->err->format_message)(info, e->message);
    longjmp(e->jump, 1);
}

static void pare_jpeg_emit_message(j_common_ptr info, int level) {
    int code = info->err->msg_code;
    if (level < 0 && (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_MUST_RESYNC || code == JWRN_NOT_SEQUENTIAL))
        pare_jpeg_error_exit(info);
}

/* Decodes `data`: with out == NULL only the header (width, height, components: 1 grey or 3
   RGB); else the pixels, rows of width * components bytes, into out (out_size bytes, checked).
   Returns 0, or -1 with `message` (JMSG_LENGTH_MAX bytes) filled. */
static inline int pare_jpeg_decode(const unsigned char *data, unsigned long size, unsigned char *out,
                                   unsigned long out_size, int *width, int *height, int *components,
                                   char *message) {
    struct jpeg_decompress_struct info;
    struct pare_jpeg_error error;
    memset(&info, 0, sizeof info);
    info.err = jpeg_std_error(&error.manager);
    error.manager.error_exit = pare_jpeg_error_exit;
    error.manager.emit_message = pare_jpeg_emit_message;
    error.message[0] = 0;
    if (setjmp(error.jump)) {
        strncpy(message, error.message, JMSG_LENGTH_MAX - 1);
        message[JMSG_LENGTH_MAX - 1] = 0;
        jpeg_destroy_decompress(&info);
        return -1;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, size);
    jpeg_read_header(&info, TRUE);
    info.out_color_space = info.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    *width = (int)info.image_width;
    *height = (int)info.image_height;
    *components = info.out_color_space == JCS_GRAYSCALE ? 1 : 3;
    if (out == NULL) { jpeg_destroy_decompress(&info); return 0; }
    jpeg_start_decompress(&info);
    unsigned long row = (unsigned long)info.output_width * (unsigned long)info.output_components;
    if (info.output_width != info.image_width || info.output_height != info.image_height ||
        info.output_components != *components || row * info.output_height > out_size) {
        strncpy(message, "decoder output does not match the header", JMSG_LENGTH_MAX - 1);
        jpeg_destroy_decompress(&info);
        return -1;
    }
    while (info.output_scanline < info.output_height) {
        JSAMPROW line = out + (unsigned long)info.output_scanline * row;
        jpeg_read_scanlines(&info, &line, 1);
    }
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    return 0;
}
#endif
