/* Instantiates a kernel file for float and double: the file defines OAR_SELF (its own name),
 * OAR_F32 and OAR_F64 (its two symbols), includes this header when REAL is undefined, and holds
 * its kernel under `#else`, written with REAL, SQRT and NAME. */
#include "common.h"
#define REAL float
#define SQRT sqrtf
#define NAME OAR_F32
#include OAR_SELF
#undef REAL
#undef SQRT
#undef NAME
#define REAL double
#define SQRT sqrt
#define NAME OAR_F64
#include OAR_SELF
