// oneDNN convolutions and matrix products reading and writing tensors in place in tfjs's WASM memory.
//
// JavaScript passes the WASM memory as a Uint8Array (over an ArrayBuffer or, in the threaded build, a
// SharedArrayBuffer) and byte offsets into it; the kernels work on those addresses directly. tfjs tensors
// are channels-last: activations [N, H, W, C] (oneDNN tag nhwc), conv filters [KH, KW, IC, OC] (tag hwio).
// With layout BLOCKED the primitives choose their own memory formats (format_tag::any) and the tensors are
// reordered into and out of buffers the cache entry owns; with PLAIN they run on the heap tensors as laid
// out. Primitives, reorders and those buffers are cached by geometry.
//
// Geometry (Int32Array of 17): N H W C OH OW OC KH KW SH SW DH DW PT PL PB PR, dilations as in TensorFlow
// (1 = dense), pads as tfjs's computeConv2DInfo gives them.
#include <node_api.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

enum Layout { PLAIN = 0, BLOCKED = 1 };
enum Kind { CONV_FWD = 0, CONV_BWD_DATA = 1, CONV_BWD_WEIGHTS = 2 };
// tfjs's fused activations: linear, relu, relu6, elu, leakyrelu, sigmoid.
enum Act { LINEAR = 0, RELU = 1, RELU6 = 2, ELU = 3, LEAKY = 4, SIGMOID = 5 };

dnnl::engine &engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream &stream() {
  static dnnl::stream s(engine());
  return s;
}

struct Geometry {
  int N, H, W, C, OH, OW, OC, KH, KW, SH, SW, DH, DW, PT, PL, PB, PR;
};

// One tensor argument of a primitive: the heap tensor (its address set per call) and, where the primitive
// wants another format, a buffer of that format and the reorder between the two.
struct Arg {
  int id;
  bool output;
  memory user;
  memory inner;
  bool reordered = false;
  dnnl::reorder move;
};

struct Entry {
  dnnl::primitive prim;
  std::vector<Arg> args;
};

Arg bind(int id, bool output, const memory::desc &user_md, const memory::desc &wanted) {
  Arg a{id, output, memory(user_md, engine(), DNNL_MEMORY_NONE), memory(), false, dnnl::reorder()};
  if (wanted == user_md) {
    a.inner = a.user;
  } else {
    a.inner = memory(wanted, engine());
    a.reordered = true;
    a.move = output ? dnnl::reorder(a.inner, a.user) : dnnl::reorder(a.user, a.inner);
  }
  return a;
}

void run(Entry &e, const std::vector<void *> &ptrs) {
  auto &s = stream();
  std::unordered_map<int, memory> args;
  for (size_t i = 0; i < e.args.size(); i++) {
    Arg &a = e.args[i];
    a.user.set_data_handle(ptrs[i]);
    if (a.reordered && !a.output) a.move.execute(s, a.user, a.inner);
    args.emplace(a.id, a.inner);
  }
  e.prim.execute(s, args);
  for (Arg &a : e.args)
    if (a.reordered && a.output) a.move.execute(s, a.inner, a.user);
  s.wait();
}

// Cached entries; cleared whole when it grows past this many (a run uses a few dozen geometries).
constexpr size_t CACHE_LIMIT = 1024;
std::map<std::vector<int>, std::unique_ptr<Entry>> cache;

dnnl::algorithm eltwise(int act, float *alpha, float *beta) {
  *alpha = 0.f;
  *beta = 0.f;
  switch (act) {
    case RELU: return dnnl::algorithm::eltwise_relu;
    case RELU6: *beta = 6.f; return dnnl::algorithm::eltwise_clip;
    case ELU: *alpha = 1.f; return dnnl::algorithm::eltwise_elu;
    case SIGMOID: return dnnl::algorithm::eltwise_logistic;
    default: return dnnl::algorithm::undef;
  }
}

Entry *convEntry(int kind, const Geometry &g, int layout, int act, float leaky, bool bias) {
  std::vector<int> key = {kind, layout, act, bias, (int)(leaky * 1e6f)};
  key.insert(key.end(), &g.N, &g.N + 17);
  auto found = cache.find(key);
  if (found != cache.end()) return found->second.get();
  if (cache.size() >= CACHE_LIMIT) cache.clear();

  memory::dims src_dims = {g.N, g.C, g.H, g.W}, dst_dims = {g.N, g.OC, g.OH, g.OW}, wei_dims = {g.OC, g.C, g.KH, g.KW};
  memory::dims strides = {g.SH, g.SW}, dilates = {g.DH - 1, g.DW - 1};
  // The right and bottom pads that make oneDNN's output size formula give tfjs's OH, OW.
  memory::dims pad_l = {g.PT, g.PL};
  memory::dims pad_r = {(g.OH - 1) * g.SH + (g.KH - 1) * g.DH + 1 - g.H - g.PT, (g.OW - 1) * g.SW + (g.KW - 1) * g.DW + 1 - g.W - g.PL};
  memory::desc src_u(src_dims, dt::f32, tag::nhwc), dst_u(dst_dims, dt::f32, tag::nhwc), wei_u(wei_dims, dt::f32, tag::hwio);
  memory::desc bias_u({g.OC}, dt::f32, tag::a);
  tag t_act = layout == BLOCKED ? tag::any : tag::nhwc, t_wei = layout == BLOCKED ? tag::any : tag::hwio;
  memory::desc src_p(src_dims, dt::f32, t_act), dst_p(dst_dims, dt::f32, t_act), wei_p(wei_dims, dt::f32, t_wei);
  const auto direct = dnnl::algorithm::convolution_direct;

  auto e = std::make_unique<Entry>();
  if (kind == CONV_FWD) {
    dnnl::primitive_attr attr;
    float alpha, beta;
    auto alg = act == LEAKY ? dnnl::algorithm::eltwise_relu : eltwise(act, &alpha, &beta);
    if (act == LEAKY) alpha = leaky, beta = 0.f;
    if (alg != dnnl::algorithm::undef) {
      dnnl::post_ops po;
      po.append_eltwise(1.f, alg, alpha, beta);
      attr.set_post_ops(po);
    }
    auto desc = bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, direct, src_p, wei_p, bias_u, dst_p, strides,
                                                       dilates, pad_l, pad_r)
                     : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, direct, src_p, wei_p, dst_p, strides, dilates,
                                                       pad_l, pad_r);
    dnnl::convolution_forward::primitive_desc pd(desc, attr, engine());
    e->prim = dnnl::convolution_forward(pd);
    e->args.push_back(bind(DNNL_ARG_SRC, false, src_u, pd.src_desc()));
    e->args.push_back(bind(DNNL_ARG_WEIGHTS, false, wei_u, pd.weights_desc()));
    e->args.push_back(bind(DNNL_ARG_DST, true, dst_u, pd.dst_desc()));
    if (bias) e->args.push_back(bind(DNNL_ARG_BIAS, false, bias_u, pd.bias_desc()));
  } else {
    dnnl::convolution_forward::primitive_desc hint(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, direct, src_p, wei_p, dst_p, strides, dilates, pad_l, pad_r),
        engine());
    if (kind == CONV_BWD_DATA) {
      dnnl::convolution_backward_data::primitive_desc pd(
          dnnl::convolution_backward_data::desc(direct, src_p, wei_p, dst_p, strides, dilates, pad_l, pad_r), engine(), hint);
      e->prim = dnnl::convolution_backward_data(pd);
      e->args.push_back(bind(DNNL_ARG_DIFF_DST, false, dst_u, pd.diff_dst_desc()));
      e->args.push_back(bind(DNNL_ARG_WEIGHTS, false, wei_u, pd.weights_desc()));
      e->args.push_back(bind(DNNL_ARG_DIFF_SRC, true, src_u, pd.diff_src_desc()));
    } else {
      dnnl::convolution_backward_weights::primitive_desc pd(
          dnnl::convolution_backward_weights::desc(direct, src_p, wei_p, dst_p, strides, dilates, pad_l, pad_r), engine(), hint);
      e->prim = dnnl::convolution_backward_weights(pd);
      e->args.push_back(bind(DNNL_ARG_SRC, false, src_u, pd.src_desc()));
      e->args.push_back(bind(DNNL_ARG_DIFF_DST, false, dst_u, pd.diff_dst_desc()));
      e->args.push_back(bind(DNNL_ARG_DIFF_WEIGHTS, true, wei_u, pd.diff_weights_desc()));
    }
  }
  Entry *p = e.get();
  cache.emplace(std::move(key), std::move(e));
  return p;
}

// ---- N-API plumbing ----

struct Failure {
  std::string message;
};

void check(napi_env env, napi_status status, const char *what) {
  if (status != napi_ok) throw Failure{std::string("synthaug dnnl: ") + what};
}

uint8_t *heapOf(napi_env env, napi_value v) {
  bool is_typed = false;
  check(env, napi_is_typedarray(env, v, &is_typed), "napi_is_typedarray");
  if (!is_typed) throw Failure{"synthaug dnnl: the heap must be a Uint8Array over the WASM memory"};
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_value buffer;
  size_t offset;
  check(env, napi_get_typedarray_info(env, v, &type, &length, &data, &buffer, &offset), "napi_get_typedarray_info");
  if (type != napi_uint8_array || data == nullptr) throw Failure{"synthaug dnnl: the heap must be a non-empty Uint8Array"};
  return static_cast<uint8_t *>(data);
}

double number(napi_env env, napi_value v) {
  double d;
  check(env, napi_get_value_double(env, v, &d), "expected a number");
  return d;
}

Geometry geometryOf(napi_env env, napi_value v) {
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_value buffer;
  size_t offset;
  check(env, napi_get_typedarray_info(env, v, &type, &length, &data, &buffer, &offset), "geometry");
  if (type != napi_int32_array || length != 17) throw Failure{"synthaug dnnl: geometry must be an Int32Array of 17"};
  Geometry g;
  std::copy_n(static_cast<int32_t *>(data), 17, &g.N);
  return g;
}

std::vector<napi_value> argsOf(napi_env env, napi_callback_info info, size_t want) {
  std::vector<napi_value> argv(want);
  size_t argc = want;
  check(env, napi_get_cb_info(env, info, &argc, argv.data(), nullptr, nullptr), "arguments");
  if (argc != want) throw Failure{"synthaug dnnl: expected " + std::to_string(want) + " arguments"};
  return argv;
}

template <typename F>
napi_value guarded(napi_env env, F body) {
  try {
    return body();
  } catch (const Failure &f) {
    napi_throw_error(env, nullptr, f.message.c_str());
  } catch (const dnnl::error &e) {
    napi_throw_error(env, nullptr, (std::string("oneDNN: ") + e.what()).c_str());
  } catch (const std::exception &e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// convForward(heap, geometry, layout, act, leakyAlpha, x, w, bias | -1, y)
napi_value ConvForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = argsOf(env, info, 9);
    uint8_t *heap = heapOf(env, a[0]);
    Geometry g = geometryOf(env, a[1]);
    double bias = number(env, a[7]);
    Entry *e = convEntry(CONV_FWD, g, (int)number(env, a[2]), (int)number(env, a[3]), (float)number(env, a[4]), bias >= 0);
    std::vector<void *> ptrs = {heap + (size_t)number(env, a[5]), heap + (size_t)number(env, a[6]), heap + (size_t)number(env, a[8])};
    if (bias >= 0) ptrs.push_back(heap + (size_t)bias);
    run(*e, ptrs);
    return undefinedValue(env);
  });
}

// convBackwardData(heap, geometry, layout, dy, w, dx)
napi_value ConvBackwardData(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = argsOf(env, info, 6);
    uint8_t *heap = heapOf(env, a[0]);
    Entry *e = convEntry(CONV_BWD_DATA, geometryOf(env, a[1]), (int)number(env, a[2]), LINEAR, 0.f, false);
    run(*e, {heap + (size_t)number(env, a[3]), heap + (size_t)number(env, a[4]), heap + (size_t)number(env, a[5])});
    return undefinedValue(env);
  });
}

// convBackwardWeights(heap, geometry, layout, x, dy, dw)
napi_value ConvBackwardWeights(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = argsOf(env, info, 6);
    uint8_t *heap = heapOf(env, a[0]);
    Entry *e = convEntry(CONV_BWD_WEIGHTS, geometryOf(env, a[1]), (int)number(env, a[2]), LINEAR, 0.f, false);
    run(*e, {heap + (size_t)number(env, a[3]), heap + (size_t)number(env, a[4]), heap + (size_t)number(env, a[5])});
    return undefinedValue(env);
  });
}

void activate(float *c, size_t n, int act, float leaky) {
  switch (act) {
    case RELU:
      for (size_t i = 0; i < n; i++) c[i] = c[i] > 0.f ? c[i] : 0.f;
      break;
    case RELU6:
      for (size_t i = 0; i < n; i++) c[i] = std::min(6.f, std::max(0.f, c[i]));
      break;
    case ELU:
      for (size_t i = 0; i < n; i++) c[i] = c[i] > 0.f ? c[i] : std::expm1(c[i]);
      break;
    case LEAKY:
      for (size_t i = 0; i < n; i++) c[i] = c[i] > 0.f ? c[i] : leaky * c[i];
      break;
    case SIGMOID:
      for (size_t i = 0; i < n; i++) c[i] = 1.f / (1.f + std::exp(-c[i]));
      break;
    default: break;
  }
}

// gemm(heap, batch, M, N, K, transA, transB, a, aBatchStride, b, bBatchStride, c, bias | -1, act, leakyAlpha)
// C[i] = op(A[i]) · op(B[i]) (+ bias[N] on every row), row-major, strides in elements (0 broadcasts).
napi_value Gemm(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = argsOf(env, info, 15);
    uint8_t *heap = heapOf(env, a[0]);
    const int64_t batch = (int64_t)number(env, a[1]), M = (int64_t)number(env, a[2]), N = (int64_t)number(env, a[3]),
                  K = (int64_t)number(env, a[4]);
    const bool ta = number(env, a[5]) != 0, tb = number(env, a[6]) != 0;
    const float *A = reinterpret_cast<const float *>(heap + (size_t)number(env, a[7]));
    const int64_t sa = (int64_t)number(env, a[8]);
    const float *B = reinterpret_cast<const float *>(heap + (size_t)number(env, a[9]));
    const int64_t sb = (int64_t)number(env, a[10]);
    float *C = reinterpret_cast<float *>(heap + (size_t)number(env, a[11]));
    const double biasAt = number(env, a[12]);
    const int act = (int)number(env, a[13]);
    const float leaky = (float)number(env, a[14]);
    const float *bias = biasAt >= 0 ? reinterpret_cast<const float *>(heap + (size_t)biasAt) : nullptr;
    for (int64_t i = 0; i < batch; i++) {
      float *c = C + i * M * N;
      if (bias)
        for (int64_t r = 0; r < M; r++) std::copy_n(bias, N, c + r * N);
      dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.f, A + i * sa, ta ? M : K, B + i * sb, tb ? K : N,
                                    bias ? 1.f : 0.f, c, N);
      if (st != dnnl_success) throw Failure{"oneDNN: dnnl_sgemm failed with status " + std::to_string((int)st)};
    }
    if (act != LINEAR) activate(C, (size_t)(batch * M * N), act, leaky);
    return undefinedValue(env);
  });
}

// ---- Memory-bound per-channel passes of the norm layers and ReLU, split over the OpenMP threads ----
// (tfjs's WASM kernels for these run on one thread.) Channels-last: row r, channel c at r·C + c.

// Below this many elements an element-wise pass stays on the calling thread (waking OpenMP's costs more).
constexpr int64_t PARALLEL_MIN = 1 << 15;

uint8_t *at(uint8_t *heap, double offset) { return offset < 0 ? nullptr : heap + (size_t)offset; }

// Per thread: Σ u and Σ u·(v − m) over rows [r0, r1) into su, suv (float64, C each).
__attribute__((target_clones("avx2", "default"))) void sumRows(const float *u, const float *v, const float *m, int64_t r0, int64_t r1,
                                                              int64_t C, double *su, double *suv) {
  for (int64_t r = r0; r < r1; r++) {
    const float *ur = u + r * C;
    for (int64_t c = 0; c < C; c++) su[c] += ur[c];
    if (v) {
      const float *vr = v + r * C;
      for (int64_t c = 0; c < C; c++) suv[c] += (double)ur[c] * (double)(vr[c] - m[c]);
    }
  }
}

// channelStats(heap, u, v | -1, m | -1, images, rows, C, mPerImage, out: Float64Array [2·images·C])
// For each image i (rows per image consecutive): out[i·C + c] = Σ u, out[(images + i)·C + c] = Σ u·(v − m).
napi_value ChannelStats(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = argsOf(env, info, 9);
    uint8_t *heap = heapOf(env, a[0]);
    const float *u = reinterpret_cast<const float *>(at(heap, number(env, a[1])));
    const float *v = reinterpret_cast<const float *>(at(heap, number(env, a[2])));
    const float *m0 = reinterpret_cast<const float *>(at(heap, number(env, a[3])));
    const int64_t images = (int64_t)number(env, a[4]), rows = (int64_t)number(env, a[5]), C = (int64_t)number(env, a[6]);
    const bool mPerImage = number(env, a[7]) != 0;
    napi_typedarray_type type;
    size_t length;
    void *data;
    napi_value buffer;
    size_t offset;
    check(env, napi_get_typedarray_info(env, a[8], &type, &length, &data, &buffer, &offset), "out");
    if (type != napi_float64_array || (int64_t)length != 2 * images * C) throw Failure{"synthaug dnnl: channelStats out must be a Float64Array of 2·images·C"};
    double *out = static_cast<double *>(data);
    std::fill_n(out, length, 0.0);
    const int threads = omp_get_max_threads();
    std::vector<double> partial((size_t)threads * 2 * C);
    for (int64_t i = 0; i < images; i++) {
      const float *ui = u + i * rows * C;
      const float *vi = v ? v + i * rows * C : nullptr;
      const float *m = m0 ? m0 + (mPerImage ? i * C : 0) : nullptr;
      std::fill(partial.begin(), partial.end(), 0.0);
#pragma omp parallel num_threads(threads)
      {
        const int t = omp_get_thread_num(), n = omp_get_num_threads();
        const int64_t r0 = rows * t / n, r1 = rows * (t + 1) / n;
        sumRows(ui, vi, m, r0, r1, C, &partial[(size_t)t * 2 * C], &partial[(size_t)t * 2 * C + C]);
      }
      for (int t = 0; t < threads; t++)
        for (int64_t c = 0; c < C; c++) {
          out[i * C + c] += partial[(size_t)t * 2 * C + c];
          out[(images + i) * C + c] += partial[(size_t)t * 2 * C + C + c];
        }
    }
    return undefinedValue(env);
  });
}

__attribute__((target_clones("avx2", "default"))) void affineRows(const float *u, const float *v, float *out, int64_t r0, int64_t r1,
                                                                 int64_t C, const float *a, const float *b, const float *d) {
  for (int64_t r = r0; r < r1; r++) {
    const float *ur = u + r * C;
    float *o = out + r * C;
    if (v) {
      const float *vr = v + r * C;
      for (int64_t c = 0; c < C; c++) o[c] = ur[c] * a[c] + d[c] + vr[c] * b[c];
    } else {
      for (int64_t c = 0; c < C; c++) o[c] = ur[c] * a[c] + d[c];
    }
  }
}

// channelAffine(heap, u, v | -1, out, images, rows, C, a, b | -1, d, perImage): out = u·a + d [+ v·b], the
// coefficients C values each, or images·C (one row per image) with perImage.
napi_value ChannelAffine(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = argsOf(env, info, 11);
    uint8_t *heap = heapOf(env, a[0]);
    const float *u = reinterpret_cast<const float *>(at(heap, number(env, a[1])));
    const float *v = reinterpret_cast<const float *>(at(heap, number(env, a[2])));
    float *out = reinterpret_cast<float *>(at(heap, number(env, a[3])));
    const int64_t images = (int64_t)number(env, a[4]), rows = (int64_t)number(env, a[5]), C = (int64_t)number(env, a[6]);
    const float *ca = reinterpret_cast<const float *>(at(heap, number(env, a[7])));
    const float *cb = reinterpret_cast<const float *>(at(heap, number(env, a[8])));
    const float *cd = reinterpret_cast<const float *>(at(heap, number(env, a[9])));
    const bool perImage = number(env, a[10]) != 0;
    const int64_t total = images * rows;
#pragma omp parallel
    {
      const int t = omp_get_thread_num(), n = omp_get_num_threads();
      const int64_t r0 = total * t / n, r1 = total * (t + 1) / n;
      // Split this thread's rows at image boundaries, where the coefficients change.
      for (int64_t r = r0; r < r1;) {
        const int64_t img = r / rows, end = std::min(r1, (img + 1) * rows), k = perImage ? img * C : 0;
        affineRows(u, v, out, r, end, C, ca + k, cb ? cb + k : nullptr, cd + k);
        r = end;
      }
    }
    return undefinedValue(env);
  });
}

__attribute__((target_clones("avx2", "default"))) void reluRange(const float *x, float *y, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) y[i] = x[i] > 0.f ? x[i] : 0.f;
}

// ---- SiLU, x·σ(x) (the U-Net's activation), forward and gradient in one pass each ----
// e^x by range reduction, e^x = 2^n·e^r with n = round(x / ln 2) and r = x − n·ln 2 (ln 2 in two parts), and
// Cephes's degree-6 polynomial for e^r: relative error below 2e-7 on [−87, 88], where x is clamped (σ is then 0
// or 1 to float precision). Branch-free, so that the loops below vectorise (with -fno-trapping-math: binding.gyp);
// a NaN x stays NaN in x·σ(x).
inline float expClamped(float x) {
  x = x < -87.f ? -87.f : x;
  x = x > 88.f ? 88.f : x;
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  const int32_t bits = ((int32_t)n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

__attribute__((target_clones("avx2", "default"))) void siluRange(const float *x, float *y, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) y[i] = x[i] / (1.f + expClamped(-x[i]));
}

// d/dx x·σ(x) = σ(x)·(1 + x·(1 − σ(x)))
__attribute__((target_clones("avx2", "default"))) void siluGradRange(const float *x, const float *dy, float *dx, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) {
    const float s = 1.f / (1.f + expClamped(-x[i]));
    dx[i] = dy[i] * s * (1.f + x[i] * (1.f - s));
  }
}

// An element-wise kernel on every core: arguments (heap, in_1 .. in_K, out, n), offsets into the heap of
// float32 arrays of n values; range(in, out, i0, i1) computes out over [i0, i1).
template <int K, typename Range>
napi_value elementwise(napi_env env, napi_callback_info info, Range range) {
  return guarded(env, [&] {
    auto a = argsOf(env, info, K + 3);
    uint8_t *heap = heapOf(env, a[0]);
    const float *in[K];
    for (int j = 0; j < K; j++) in[j] = reinterpret_cast<const float *>(at(heap, number(env, a[1 + j])));
    float *out = reinterpret_cast<float *>(at(heap, number(env, a[1 + K])));
    const int64_t n = (int64_t)number(env, a[2 + K]);
#pragma omp parallel if (n >= PARALLEL_MIN)
    {
      const int t = omp_get_thread_num(), k = omp_get_num_threads();
      range(in, out, n * t / k, n * (t + 1) / k);
    }
    return undefinedValue(env);
  });
}

// relu(heap, x, y, n), silu(heap, x, y, n), siluGrad(heap, x, dy, dx, n)
napi_value Relu(napi_env env, napi_callback_info info) {
  return elementwise<1>(env, info, [](const float *const *in, float *out, int64_t i0, int64_t i1) { reluRange(in[0], out, i0, i1); });
}
napi_value Silu(napi_env env, napi_callback_info info) {
  return elementwise<1>(env, info, [](const float *const *in, float *out, int64_t i0, int64_t i1) { siluRange(in[0], out, i0, i1); });
}
napi_value SiluGrad(napi_env env, napi_callback_info info) {
  return elementwise<2>(env, info, [](const float *const *in, float *out, int64_t i0, int64_t i1) { siluGradRange(in[0], in[1], out, i0, i1); });
}

// ---- Data movement: strided block copies (Slice, SplitV and Concat along any axis) and Transpose ----
// tfjs's WASM Slice copies an inner-axis slice element by element on one thread, and its Transpose of rank 5
// (the attention's [B, HW, 3, heads, d] → [3, B, heads, HW, d]) takes a generic path tens of times slower
// than a copy; these run at memory speed on every core.

// strided(heap, src, srcStride, dst, dstStride, rows, len): row r copies len floats from src + r·srcStride to
// dst + r·dstStride (offsets in bytes, strides and len in floats).
napi_value Strided(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = argsOf(env, info, 7);
    uint8_t *heap = heapOf(env, a[0]);
    const float *src = reinterpret_cast<const float *>(at(heap, number(env, a[1])));
    const int64_t srcStride = (int64_t)number(env, a[2]);
    float *dst = reinterpret_cast<float *>(at(heap, number(env, a[3])));
    const int64_t dstStride = (int64_t)number(env, a[4]), rows = (int64_t)number(env, a[5]), len = (int64_t)number(env, a[6]);
#pragma omp parallel for schedule(static) if (rows * len >= PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++) std::memcpy(dst + r * dstStride, src + r * srcStride, (size_t)len * sizeof(float));
    return undefinedValue(env);
  });
}

std::vector<int32_t> int32s(napi_env env, napi_value v) {
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_value buffer;
  size_t offset;
  check(env, napi_get_typedarray_info(env, v, &type, &length, &data, &buffer, &offset), "Int32Array");
  if (type != napi_int32_array) throw Failure{"synthaug dnnl: expected an Int32Array"};
  const int32_t *p = static_cast<const int32_t *>(data);
  return std::vector<int32_t>(p, p + length);
}

constexpr int MAX_RANK = 8;

// transpose(heap, x, y, dims): dims = [rank, x's shape (rank values), perm (rank values)]; y's axis k is x's
// axis perm[k]. Rows of y's last axis are filled in order, each thread taking a contiguous range of rows.
napi_value Transpose(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = argsOf(env, info, 4);
    uint8_t *heap = heapOf(env, a[0]);
    const float *x = reinterpret_cast<const float *>(at(heap, number(env, a[1])));
    float *y = reinterpret_cast<float *>(at(heap, number(env, a[2])));
    const std::vector<int32_t> d = int32s(env, a[3]);
    const int rank = d.empty() ? 0 : d[0];
    if (rank < 1 || rank > MAX_RANK || (int)d.size() != 1 + 2 * rank) throw Failure{"synthaug dnnl: transpose dims must be [rank, shape, perm]"};
    int64_t inStride[MAX_RANK], shape[MAX_RANK], step[MAX_RANK];
    inStride[rank - 1] = 1;
    for (int k = rank - 2; k >= 0; k--) inStride[k] = inStride[k + 1] * d[2 + k];
    int64_t total = 1;
    for (int k = 0; k < rank; k++) {
      const int p = d[1 + rank + k];
      if (p < 0 || p >= rank) throw Failure{"synthaug dnnl: transpose perm out of range"};
      shape[k] = d[1 + p];
      step[k] = inStride[p];
      total *= shape[k];
    }
    const int64_t inner = shape[rank - 1], innerStep = step[rank - 1];
    if (total == 0) return undefinedValue(env);
    const int64_t rows = total / inner;
#pragma omp parallel if (total >= PARALLEL_MIN)
    {
      const int t = omp_get_thread_num(), n = omp_get_num_threads();
      const int64_t r0 = rows * t / n, r1 = rows * (t + 1) / n;
      int64_t idx[MAX_RANK] = {0}, off = 0;
      for (int64_t r = r0, k = rank - 2; k >= 0; k--) {
        idx[k] = r % shape[k];
        r /= shape[k];
        off += idx[k] * step[k];
      }
      for (int64_t r = r0; r < r1; r++) {
        const float *src = x + off;
        float *dst = y + r * inner;
        if (innerStep == 1) std::memcpy(dst, src, (size_t)inner * sizeof(float));
        else for (int64_t i = 0; i < inner; i++) dst[i] = src[i * innerStep];
        for (int k = rank - 2; k >= 0; k--) {
          off += step[k];
          if (++idx[k] < shape[k]) break;
          off -= step[k] * shape[k];
          idx[k] = 0;
        }
      }
    }
    return undefinedValue(env);
  });
}

enum Binary { ADD = 0, MUL = 1, SUB = 2 };

// out[i] = a[i] op b[i mod period] over [i0, i1): period n (same shapes), C (b one value per channel), 1 (scalar).
__attribute__((target_clones("avx2", "default"))) void binaryRange(int op, const float *a, const float *b, float *out, int64_t i0,
                                                                  int64_t i1, int64_t period) {
  int64_t i = i0;
  while (i < i1) {
    const int64_t j0 = i % period, len = std::min(i1 - i, period - j0);
    const float *ar = a + i, *br = b + j0;
    float *o = out + i;
    if (period == 1) {
      const float s = b[0];
      if (op == ADD) for (int64_t k = 0; k < len; k++) o[k] = ar[k] + s;
      else if (op == MUL) for (int64_t k = 0; k < len; k++) o[k] = ar[k] * s;
      else for (int64_t k = 0; k < len; k++) o[k] = ar[k] - s;
    } else {
      if (op == ADD) for (int64_t k = 0; k < len; k++) o[k] = ar[k] + br[k];
      else if (op == MUL) for (int64_t k = 0; k < len; k++) o[k] = ar[k] * br[k];
      else for (int64_t k = 0; k < len; k++) o[k] = ar[k] - br[k];
    }
    i += len;
  }
}

// binary(heap, op, a, b, out, n, period)
napi_value BinaryOp(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = argsOf(env, info, 7);
    uint8_t *heap = heapOf(env, a[0]);
    const int op = (int)number(env, a[1]);
    const float *x = reinterpret_cast<const float *>(at(heap, number(env, a[2])));
    const float *y = reinterpret_cast<const float *>(at(heap, number(env, a[3])));
    float *out = reinterpret_cast<float *>(at(heap, number(env, a[4])));
    const int64_t n = (int64_t)number(env, a[5]), period = (int64_t)number(env, a[6]);
    if (period < 1) throw Failure{"synthaug dnnl: binary period must be positive"};
#pragma omp parallel if (n >= PARALLEL_MIN)
    {
      const int t = omp_get_thread_num(), k = omp_get_num_threads();
      binaryRange(op, x, y, out, n * t / k, n * (t + 1) / k, period);
    }
    return undefinedValue(env);
  });
}

// ---- Optimiser and moving-average updates: one pass per parameter (src/training/optim.ts, step.ts) ----
// Each reproduces, element by element, the float32 operations of the tfjs ops it replaces, in their order,
// with the scalars rounded to float32 as tfjs rounds them; no multiply and add is contracted into an FMA
// (-ffp-contract=off in binding.gyp), and division and square root are IEEE's, so the results are the same bits.
// Outputs may be written over inputs of the same index.

__attribute__((target_clones("avx2", "default"))) void adamwRange(const float *p, const float *g, const float *m, const float *v, float *po,
                                                                  float *mo, float *vo, int64_t i0, int64_t i1, float scale, float b1,
                                                                  float nb1, float b2, float nb2, float c1, float c2, float eps, float lr,
                                                                  float keep) {
  for (int64_t i = i0; i < i1; i++) {
    const float gi = g[i] * scale;
    const float m1 = m[i] * b1 + gi * nb1;
    const float v1 = v[i] * b2 + (gi * gi) * nb2;
    const float update = (m1 / c1) / (std::sqrt(v1 / c2) + eps);
    mo[i] = m1;
    vo[i] = v1;
    po[i] = p[i] * keep - update * lr;
  }
}

// adamw(heap, p, g, m, v, pOut, mOut, vOut, n, scale, beta1, beta2, c1, c2, eps, lr, keep):
//   g ← scale·g;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  p ← keep·p − lr·(m/c1) / (√(v/c2) + ε)
// with keep = 1 − lr·λ for a decayed parameter (else 1) and c1, c2 the bias corrections 1 − βᵗ.
napi_value AdamW(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = argsOf(env, info, 17);
    uint8_t *heap = heapOf(env, a[0]);
    auto in = [&](int k) { return reinterpret_cast<const float *>(at(heap, number(env, a[k]))); };
    auto out = [&](int k) { return reinterpret_cast<float *>(at(heap, number(env, a[k]))); };
    const float *p = in(1), *g = in(2), *m = in(3), *v = in(4);
    float *po = out(5), *mo = out(6), *vo = out(7);
    const int64_t n = (int64_t)number(env, a[8]);
    const double beta1 = number(env, a[10]), beta2 = number(env, a[11]);
    const float scale = (float)number(env, a[9]), b1 = (float)beta1, nb1 = (float)(1 - beta1), b2 = (float)beta2, nb2 = (float)(1 - beta2);
    const float c1 = (float)number(env, a[12]), c2 = (float)number(env, a[13]), eps = (float)number(env, a[14]);
    const float lr = (float)number(env, a[15]), keep = (float)number(env, a[16]);
#pragma omp parallel if (n >= PARALLEL_MIN)
    {
      const int t = omp_get_thread_num(), k = omp_get_num_threads();
      adamwRange(p, g, m, v, po, mo, vo, n * t / k, n * (t + 1) / k, scale, b1, nb1, b2, nb2, c1, c2, eps, lr, keep);
    }
    return undefinedValue(env);
  });
}

__attribute__((target_clones("avx2", "default"))) void sgdRange(const float *p, const float *g, const float *b, float *po, float *bo,
                                                                int64_t i0, int64_t i1, float scale, bool decay, float wd, float mu,
                                                                bool nesterov, float lr) {
  for (int64_t i = i0; i < i1; i++) {
    float gi = g[i] * scale;
    if (decay) gi = gi + p[i] * wd;
    float d = gi;
    if (b) {
      const float b1 = b[i] * mu + gi;
      bo[i] = b1;
      d = nesterov ? gi + b1 * mu : b1;
    }
    po[i] = p[i] - d * lr;
  }
}

// sgd(heap, p, g, buf | -1, pOut, bufOut | -1, n, scale, weightDecay, momentum, nesterov, lr):
//   g ← scale·g [+ λ·p when λ > 0];  b ← μ·b + g;  d ← nesterov ? g + μ·b : b;  p ← p − lr·d
// (without a buffer: p ← p − lr·g).
napi_value Sgd(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = argsOf(env, info, 12);
    uint8_t *heap = heapOf(env, a[0]);
    const float *p = reinterpret_cast<const float *>(at(heap, number(env, a[1])));
    const float *g = reinterpret_cast<const float *>(at(heap, number(env, a[2])));
    const float *b = reinterpret_cast<const float *>(at(heap, number(env, a[3])));
    float *po = reinterpret_cast<float *>(at(heap, number(env, a[4])));
    float *bo = reinterpret_cast<float *>(at(heap, number(env, a[5])));
    if ((b == nullptr) != (bo == nullptr)) throw Failure{"synthaug dnnl: sgd takes a momentum buffer and its output together"};
    const int64_t n = (int64_t)number(env, a[6]);
    const double wd = number(env, a[8]);
    const float scale = (float)number(env, a[7]), mu = (float)number(env, a[9]), lr = (float)number(env, a[11]);
    const bool nesterov = number(env, a[10]) != 0;
#pragma omp parallel if (n >= PARALLEL_MIN)
    {
      const int t = omp_get_thread_num(), k = omp_get_num_threads();
      sgdRange(p, g, b, po, bo, n * t / k, n * (t + 1) / k, scale, wd > 0, (float)wd, mu, nesterov, lr);
    }
    return undefinedValue(env);
  });
}

__attribute__((target_clones("avx2", "default"))) void emaRange(const float *s, const float *p, float *so, int64_t i0, int64_t i1, float d,
                                                                float nd) {
  for (int64_t i = i0; i < i1; i++) so[i] = s[i] * d + p[i] * nd;
}

// ema(heap, s, p, sOut, n, decay): s ← d·s + (1 − d)·p.
napi_value Ema(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = argsOf(env, info, 6);
    uint8_t *heap = heapOf(env, a[0]);
    const float *s = reinterpret_cast<const float *>(at(heap, number(env, a[1])));
    const float *p = reinterpret_cast<const float *>(at(heap, number(env, a[2])));
    float *so = reinterpret_cast<float *>(at(heap, number(env, a[3])));
    const int64_t n = (int64_t)number(env, a[4]);
    const double d = number(env, a[5]);
#pragma omp parallel if (n >= PARALLEL_MIN)
    {
      const int t = omp_get_thread_num(), k = omp_get_num_threads();
      emaRange(s, p, so, n * t / k, n * (t + 1) / k, (float)d, (float)(1 - d));
    }
    return undefinedValue(env);
  });
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = argsOf(env, info, 1);
    omp_set_num_threads(std::max(1, (int)number(env, a[0])));
    return undefinedValue(env);
  });
}

napi_value ClearCache(napi_env env, napi_callback_info) {
  cache.clear();
  return undefinedValue(env);
}

const char *isaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "SSE4.1";
    case dnnl::cpu_isa::avx: return "AVX";
    case dnnl::cpu_isa::avx2: return "AVX2";
    case dnnl::cpu_isa::avx2_vnni: return "AVX2-VNNI";
    case dnnl::cpu_isa::avx512_mic: return "AVX-512 (MIC)";
    case dnnl::cpu_isa::avx512_mic_4ops: return "AVX-512 (MIC 4ops)";
    case dnnl::cpu_isa::avx512_core: return "AVX-512";
    case dnnl::cpu_isa::avx512_core_vnni: return "AVX-512 VNNI";
    case dnnl::cpu_isa::avx512_core_bf16: return "AVX-512 BF16";
    case dnnl::cpu_isa::avx512_core_amx: return "AVX-512 AMX";
    default: return "baseline x86-64";
  }
}

void setNamed(napi_env env, napi_value obj, const char *name, napi_value v) { napi_set_named_property(env, obj, name, v); }

// info(): { version, isa, threads, cached }
napi_value Info(napi_env env, napi_callback_info) {
  return guarded(env, [&] {
    napi_value obj, v;
    napi_create_object(env, &obj);
    const dnnl_version_t *ver = dnnl_version();
    std::string version = std::to_string(ver->major) + "." + std::to_string(ver->minor) + "." + std::to_string(ver->patch);
    napi_create_string_utf8(env, version.c_str(), NAPI_AUTO_LENGTH, &v);
    setNamed(env, obj, "version", v);
    napi_create_string_utf8(env, isaName(dnnl::get_effective_cpu_isa()), NAPI_AUTO_LENGTH, &v);
    setNamed(env, obj, "isa", v);
    napi_create_int32(env, omp_get_max_threads(), &v);
    setNamed(env, obj, "threads", v);
    napi_create_int32(env, (int)cache.size(), &v);
    setNamed(env, obj, "cached", v);
    return obj;
  });
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"convForward", nullptr, ConvForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"convBackwardData", nullptr, ConvBackwardData, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"convBackwardWeights", nullptr, ConvBackwardWeights, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gemm", nullptr, Gemm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"channelStats", nullptr, ChannelStats, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"channelAffine", nullptr, ChannelAffine, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binary", nullptr, BinaryOp, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"relu", nullptr, Relu, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"strided", nullptr, Strided, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"transpose", nullptr, Transpose, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"silu", nullptr, Silu, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"siluGrad", nullptr, SiluGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adamw", nullptr, AdamW, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sgd", nullptr, Sgd, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"ema", nullptr, Ema, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"clearCache", nullptr, ClearCache, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
