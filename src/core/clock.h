/* The monotonic clock lives in the utility library (util/clock.h), which
 * clients of the public header share; engine code keeps this include name. */
#ifndef SC_CORE_CLOCK_H
#define SC_CORE_CLOCK_H

#include "util/clock.h"

#endif
