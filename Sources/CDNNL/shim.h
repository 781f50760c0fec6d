// oneDNN (Debian libdnnl-dev 2.x, no pkg-config file) for Pare's int8 inference path: the C
// API behind a few plain functions, so Swift sees no macros, unions or descriptor structs.
#ifndef PARE_DNNL_SHIM_H
#define PARE_DNNL_SHIM_H

#include <oneapi/dnnl/dnnl.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/// One convolution on NHWC tensors [n, ic, h, h] -> [n, oc, oh, oh]. With `int8`: u8 source,
/// s8 weights, s32 bias, u8 destination, dst = saturate(round_half_even(post_ops(scale[o] ·
/// (Σ src·w + bias)))), post-ops a ReLU when asked, then + shift (the destination's zero
/// point). Without: f32 everywhere, dst = post_ops(Σ src·w + bias), `scales` unused.
typedef struct {
    dnnl_primitive_t primitive;
    dnnl_memory_t src, weights, bias, dst, scratchpad;
    void *weight_buffer, *scratch_buffer;
} pare_dnnl_conv;

/// oneDNN's OpenMP threads for the calling thread's parallel regions (libgomp, loaded with
/// libdnnl, is reached through dlsym so nothing links against it by name).
static inline void pare_dnnl_set_threads(int n) {
    void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (set) set(n);
}

static inline dnnl_engine_t pare_dnnl_engine(void) {
    dnnl_engine_t e = NULL;
    if (dnnl_engine_create(&e, dnnl_cpu, 0) != dnnl_success) return NULL;
    return e;
}

static inline dnnl_stream_t pare_dnnl_stream(dnnl_engine_t e) {
    dnnl_stream_t s = NULL;
    if (dnnl_stream_create(&s, e, dnnl_stream_default_flags) != dnnl_success) return NULL;
    return s;
}

/// The name of the implementation oneDNN chose ("brg:avx512_core_vnni", "ref:any", ...).
static inline const char *pare_dnnl_conv_implementation(const pare_dnnl_conv *c) {
    const_dnnl_primitive_desc_t pd = NULL;
    const char *name = "unknown";
    if (dnnl_primitive_get_primitive_desc(c->primitive, &pd) == dnnl_success)
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name);
    return name;
}

/// 0 on success, else the oneDNN status (creating or reordering failed).
static inline int pare_dnnl_conv_create(pare_dnnl_conv *c, dnnl_engine_t engine, dnnl_stream_t stream,
        int64_t n, int64_t ic, int64_t ih, int64_t oc, int64_t oh, int64_t k, int64_t stride, int64_t pad,
        int64_t groups, const void *weights, const void *bias, const float *scales, int relu, float shift, int int8) {
    memset(c, 0, sizeof(*c));
    dnnl_memory_desc_t src_md, dst_md, bias_md, any_w_md, user_w_md;
    dnnl_dims_t src_dims = {n, ic, ih, ih}, dst_dims = {n, oc, oh, oh}, bias_dims = {oc};
    dnnl_dims_t strides = {stride, stride}, pads = {pad, pad};
    dnnl_status_t st;
    dnnl_data_type_t act = int8 ? dnnl_u8 : dnnl_f32, wt = int8 ? dnnl_s8 : dnnl_f32, bt = int8 ? dnnl_s32 : dnnl_f32;
    if ((st = dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, act, dnnl_nhwc))) return st;
    if ((st = dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, act, dnnl_nhwc))) return st;
    if ((st = dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, bt, dnnl_x))) return st;
    if (groups == 1) {
        dnnl_dims_t w_dims = {oc, ic, k, k};
        if ((st = dnnl_memory_desc_init_by_tag(&any_w_md, 4, w_dims, wt, dnnl_format_tag_any))) return st;
        if ((st = dnnl_memory_desc_init_by_tag(&user_w_md, 4, w_dims, wt, dnnl_oihw))) return st;
    } else {
        dnnl_dims_t w_dims = {groups, oc / groups, ic / groups, k, k};
        if ((st = dnnl_memory_desc_init_by_tag(&any_w_md, 5, w_dims, wt, dnnl_format_tag_any))) return st;
        if ((st = dnnl_memory_desc_init_by_tag(&user_w_md, 5, w_dims, wt, dnnl_goihw))) return st;
    }
    dnnl_convolution_desc_t desc;
    if ((st = dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct,
                                                 &src_md, &any_w_md, &bias_md, &dst_md, strides, pads, pads))) return st;
    dnnl_primitive_attr_t attr;
    if ((st = dnnl_primitive_attr_create(&attr))) return st;
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (int8) dnnl_primitive_attr_set_output_scales(attr, oc, 1 << 1, scales);
    dnnl_post_ops_t ops;
    dnnl_post_ops_create(&ops);
    if (relu) dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    if (shift != 0.0f) dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_linear, 1.0f, shift);
    dnnl_primitive_attr_set_post_ops(attr, ops);
    dnnl_post_ops_destroy(ops);
    dnnl_primitive_desc_t pd;
    st = dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (st) return st;
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *scratch_md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t w_bytes = dnnl_memory_desc_get_size(w_md), scratch_bytes = scratch_md ? dnnl_memory_desc_get_size(scratch_md) : 0;
    c->weight_buffer = aligned_alloc(64, (w_bytes + 63) / 64 * 64 + 64);
    c->scratch_buffer = aligned_alloc(64, (scratch_bytes + 63) / 64 * 64 + 64);
    if ((st = dnnl_primitive_create(&c->primitive, pd))) { dnnl_primitive_desc_destroy(pd); return st; }
    dnnl_memory_create(&c->src, &src_md, engine, DNNL_MEMORY_NONE);
    dnnl_memory_create(&c->dst, &dst_md, engine, DNNL_MEMORY_NONE);
    dnnl_memory_create(&c->bias, &bias_md, engine, (void *)bias);
    dnnl_memory_create(&c->weights, w_md, engine, c->weight_buffer);
    if (scratch_md) dnnl_memory_create(&c->scratchpad, scratch_md, engine, c->scratch_buffer);
    // The weights, once, from OIHW / GOIHW into the layout the kernel chose.
    dnnl_memory_t user;
    dnnl_memory_create(&user, &user_w_md, engine, (void *)weights);
    dnnl_primitive_desc_t rpd;
    if ((st = dnnl_reorder_primitive_desc_create(&rpd, &user_w_md, engine, w_md, engine, NULL))) {
        dnnl_memory_destroy(user); dnnl_primitive_desc_destroy(pd); return st;
    }
    dnnl_primitive_t reorder;
    dnnl_primitive_create(&reorder, rpd);
    dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, c->weights}};
    st = dnnl_primitive_execute(reorder, stream, 2, rargs);
    dnnl_stream_wait(stream);
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(user);
    dnnl_primitive_desc_destroy(pd);
    return st;
}

/// Runs the convolution (the bias buffer given at creation must still be alive).
static inline int pare_dnnl_conv_run(pare_dnnl_conv *c, dnnl_stream_t stream, const void *src, void *dst) {
    dnnl_memory_set_data_handle(c->src, (void *)src);
    dnnl_memory_set_data_handle(c->dst, dst);
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, c->src}, {DNNL_ARG_WEIGHTS, c->weights}, {DNNL_ARG_BIAS, c->bias},
                               {DNNL_ARG_DST, c->dst}, {DNNL_ARG_SCRATCHPAD, c->scratchpad}};
    dnnl_status_t st = dnnl_primitive_execute(c->primitive, stream, c->scratchpad ? 5 : 4, args);
    if (st) return st;
    return dnnl_stream_wait(stream);
}

static inline void pare_dnnl_conv_destroy(pare_dnnl_conv *c) {
    if (c->primitive) dnnl_primitive_destroy(c->primitive);
    if (c->src) dnnl_memory_destroy(c->src);
    if (c->dst) dnnl_memory_destroy(c->dst);
    if (c->bias) dnnl_memory_destroy(c->bias);
    if (c->weights) dnnl_memory_destroy(c->weights);
    if (c->scratchpad) dnnl_memory_destroy(c->scratchpad);
    free(c->weight_buffer);
    free(c->scratch_buffer);
    memset(c, 0, sizeof(*c));
}

#endif
