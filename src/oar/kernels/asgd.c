/* ASGD (Paddle's SAG form) with Paddle's numerics: the fused form of oar.asgd.asgd_update.
 * S: d (param size), then y: the base of the whole [batch_num, numel] tensor of stored grads.
 * W: m, the int64 [1] step count (passed as a REAL* slot; read and written as int64_t).
 * H: lr, batch_num. One pass: reads p, g, d, y[i] and writes p, d, y[i], i = m mod batch_num.
 *
 * Not registered yet: oar.engine.fused.Kernel has no way to declare a state of
 * [k, *param.shape] (y) or an int64 counter (m); tests/test_asgd_rprop_lbfgs.py calls this kernel
 * directly through its ABI and holds it to the eager rule. */
#ifndef REAL
#define OAR_SELF "asgd.c"
#define OAR_F32 oar_asgd_f32
#define OAR_F64 oar_asgd_f64
#define OAR_BF16 oar_asgd_bf16
#define OAR_NSTATE 2
#include "dtypes.h"
#else
int NAME(int64_t T, void **P, void **G, REAL **S, REAL **W, const int64_t *N, const double *H,
         int nthreads) {
  /* per param: the row of y this step writes, and lr / min(m, batch_num) in REAL */
  int64_t *row = malloc(sizeof(int64_t) * (T > 0 ? T : 1));
  REAL *k = malloc(sizeof(REAL) * (T > 0 ? T : 1));
  if (!row || !k) {
    free(row);
    free(k);
    return OAR_ENOMEM;
  }
  for (int64_t t = 0; t < T; t++) {
    int64_t *m = (int64_t *)(void *)W[t];
    const int64_t n = (int64_t)H[2 * t + 1];
    int64_t i = *m % n;
    row[t] = i < 0 ? i + n : i; /* torch.remainder: the sign of the divisor */
    *m += 1;
    const int64_t count = *m < n ? *m : n;
    k[t] = (REAL)H[2 * t] / (REAL)count;
  }
  int64_t total = oar_total(T, N);
#pragma omp parallel num_threads(oar_threads(total, nthreads))
  {
    int64_t lo, hi;
    oar_range(total, OAR_THREAD_ID(), OAR_NUM_THREADS(), &lo, &hi);
    OAR_FOR_PIECES(T, N, lo, hi) {
      OAR_PIECE_PG
      REAL *restrict d = S[NSA * t] + off;
      REAL *restrict y = S[NSA * t + 1] + row[t] * N[t] + off;
      const REAL kt = k[t];
#pragma omp simd
      for (int64_t i = 0; i < n; i++) {
        REAL gi = LOAD_G(i);
        REAL di = (d[i] - y[i]) + gi;
        d[i] = di;
        y[i] = gi;
        STORE_P(i, LOAD_P(i) - kt * di);
      }
    }
  }
  free(row);
  free(k);
  return 0;
}
#endif
