/* What a port allocates: one lock_t, statically (counted as the port's .bss in make size). */
#include "lkp/lock.h"

lock_t g_lock;
