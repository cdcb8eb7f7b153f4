/* Shared by oar's fused CPU kernels (built at first use by oar/engine/fused.py).
 *
 * ABI of every kernel (one symbol per param dtype: *_f32, *_f64, and *_bf16 where the kernel
 * defines OAR_BF16; see dtypes.h):
 *   int oar_<name>_<f32|f64|bf16>(int64_t T, void **P, void **G, REAL **S, REAL **W,
 *                                 const int64_t *N, const double *H, int nthreads)
 * T params; P[t], G[t]: param and grad of N[t] contiguous elements (PARAM_T); S[t*NSA + k]: its
 * k-th element-wise state tensor (REAL), the float32 master weight last for bfloat16 params;
 * W[t*NW + k]: its k-th one-element state (beta pows), updated by the kernel; H[t*NH + k]: its
 * k-th hyper-parameter as a double, already rounded to the kernel's type as Paddle's kernel rounds
 * it (oar.optimizer.Optimizer._hypers_for); constants derived from hyper-parameters (1 - beta, bias
 * corrections) are computed in REAL from those values. Returns 0, or OAR_ENOMEM when scratch memory
 * cannot be allocated (nothing has been written then; the caller raises MemoryError).
 *
 * The arithmetic follows the rule in Python op by op, each op rounded to REAL (compiled with
 * -ffp-contract=off, so no multiply-add is fused) and every op is IEEE-correctly rounded: the
 * results are numpy's op-by-op evaluation of the rule on any ISA (the sums of LAMB's norms
 * excepted: their association follows the vector width). torch's eager kernels are not
 * ISA-independent: with torch's AVX2 kernels, float32 sqrt is off by one ulp in ~20% of elements
 * (measured, torch 2.13 on AMD EPYC), with AVX-512 the results agree except ~1 element in 20,000.
 */
#ifndef OAR_COMMON_H
#define OAR_COMMON_H
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#define OAR_THREAD_ID() omp_get_thread_num()
#define OAR_NUM_THREADS() omp_get_num_threads()
#else
#define OAR_THREAD_ID() 0
#define OAR_NUM_THREADS() 1
#endif

/* Returned by a kernel whose scratch allocation failed (before any element is written). */
#define OAR_ENOMEM 12

/* Elements per piece: float partial sums stay short (accuracy); larger sums are in double. */
#define OAR_PIECE 4096
/* Groups smaller than this run on one thread (a parallel region costs a few microseconds). */
#define OAR_MIN_PARALLEL 65536

static inline int64_t oar_total(int64_t T, const int64_t *N) {
  int64_t total = 0;
  for (int64_t t = 0; t < T; t++) total += N[t];
  return total;
}

/* Thread `id` of `nt` owns elements [*lo, *hi) of the T tensors laid end to end. */
static inline void oar_range(int64_t total, int id, int nt, int64_t *lo, int64_t *hi) {
  *lo = total * id / nt;
  *hi = total * (id + 1) / nt;
}

/* Visit [lo, hi) of the tensors laid end to end, piece by piece: the statement that follows
 * sees the tensor index `t`, the offset `off` in it and the piece length `n` (<= OAR_PIECE). */
#define OAR_FOR_PIECES(T, N, lo, hi)                                                       \
  for (int64_t t = 0, base_ = 0; t < (T) && base_ < (hi); base_ += (N)[t], t++)            \
    for (int64_t off = ((lo) > base_ ? (lo) - base_ : 0),                                  \
                 end_ = ((hi) - base_ < (N)[t] ? (hi) - base_ : (N)[t]), n = 0;            \
         off < end_ && ((n = (end_ - off < OAR_PIECE ? end_ - off : OAR_PIECE)), 1);      \
         off += n)

/* bfloat16 <-> float32 as torch converts them (round to nearest even; NaN -> 0x7FC0). */
static inline float oar_bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}
static inline uint16_t oar_f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return f != f ? (uint16_t)0x7FC0 : (uint16_t)(u >> 16);
}

/* In an OAR_FOR_PIECES body: the piece's param p and grad g, and the master weight w where the
 * dtype has one (then LOAD_P reads w, STORE_P writes w and its rounded copy to p). */
#define OAR_PIECE_PG                                       \
  PARAM_T *restrict p = (PARAM_T *)P[t] + off;             \
  const PARAM_T *restrict g = (const PARAM_T *)G[t] + off; \
  MASTER_DECL
/* ... and the moments m, v: the first two states (Adam, LAMB). */
#define OAR_PIECE_PGMV                        \
  OAR_PIECE_PG                                \
  REAL *restrict m = S[NSA * t] + off;        \
  REAL *restrict v = S[NSA * t + 1] + off;

static inline int oar_threads(int64_t total, int nthreads) {
  if (nthreads < 1 || total < OAR_MIN_PARALLEL) return 1;
  return nthreads;
}
#endif
