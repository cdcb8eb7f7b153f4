/* Adadelta with Paddle's numerics: the fused form of oar.adadelta.adadelta_update.
 * S: _avg_squared_grad (Eg), _avg_squared_update (Ex). H: lr, rho, epsilon.
 * One pass: reads p, g, Eg, Ex and writes p, Eg, Ex. */
#ifndef REAL
#define OAR_SELF "adadelta.c"
#define OAR_F32 oar_adadelta_f32
#define OAR_F64 oar_adadelta_f64
#define OAR_NSTATE 2
#include "dtypes.h"
#else
int NAME(int64_t T, void **P, void **G, REAL **S, REAL **W, const int64_t *N, const double *H,
         int nthreads) {
  (void)W;
  int64_t total = oar_total(T, N);
#pragma omp parallel num_threads(oar_threads(total, nthreads))
  {
    int64_t lo, hi;
    oar_range(total, OAR_THREAD_ID(), OAR_NUM_THREADS(), &lo, &hi);
    OAR_FOR_PIECES(T, N, lo, hi) {
      const double *h = H + 3 * t;
      const REAL lr = (REAL)h[0], rho = (REAL)h[1], c = (REAL)1 - rho, eps = (REAL)h[2];
      OAR_PIECE_PG
      REAL *restrict eg = S[NSA * t] + off;
      REAL *restrict ex = S[NSA * t + 1] + off;
#pragma omp simd
      for (int64_t i = 0; i < n; i++) {
        REAL gi = LOAD_G(i);
        REAL egi = eg[i] * rho + (gi * gi) * c;
        REAL ui = -((SQRT(ex[i] + eps) / SQRT(egi + eps)) * gi);
        eg[i] = egi;
        ex[i] = ex[i] * rho + (ui * ui) * c;
        STORE_P(i, LOAD_P(i) + ui * lr);
      }
    }
  }
  return 0;
}
#endif
