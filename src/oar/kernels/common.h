/* Shared by oar's fused CPU kernels (built at first use by oar/engine/fused.py).
 *
 * ABI of every kernel (REAL is float or double; one symbol per dtype, *_f32 and *_f64):
 *   void oar_<name>_<f32|f64>(int64_t T, REAL **P, REAL **G, REAL **S, REAL **W,
 *                             const int64_t *N, const double *H, int nthreads)
 * T params; P[t], G[t]: param and grad of N[t] contiguous elements; S[t*NS + k]: its k-th
 * element-wise state tensor; W[t*NW + k]: its k-th one-element state (beta pows), updated by the
 * kernel; H[t*NH + k]: its k-th hyper-parameter as a double, rounded as the eager rule sees it.
 *
 * The arithmetic follows the rule in Python op by op, each op rounded to REAL (compiled with
 * -ffp-contract=off, so no multiply-add is fused): the results are numpy's op-by-op evaluation
 * of the rule; torch's eager kernels differ from it by one rounding in ~1 element in 20,000.
 */
#ifndef OAR_COMMON_H
#define OAR_COMMON_H
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#define OAR_THREAD_ID() omp_get_thread_num()
#define OAR_NUM_THREADS() omp_get_num_threads()
#else
#define OAR_THREAD_ID() 0
#define OAR_NUM_THREADS() 1
#endif

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

/* In an OAR_FOR_PIECES body of a kernel whose first two states are the moments (Adam, LAMB):
 * the piece's param p, grad g and moments m, v (NS states per param). */
#define OAR_PIECE_PGMV(NS)                        \
  REAL *restrict p = P[t] + off;                  \
  const REAL *restrict g = G[t] + off;            \
  REAL *restrict m = S[(NS) * t] + off;           \
  REAL *restrict v = S[(NS) * t + 1] + off;

static inline int oar_threads(int64_t total, int nthreads) {
  if (nthreads < 1 || total < OAR_MIN_PARALLEL) return 1;
  return nthreads;
}
#endif
