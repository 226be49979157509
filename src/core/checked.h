/* The checked size arithmetic lives in the utility library (util/checked.h),
 * which the JSON reader shares with the engine; engine code keeps this
 * include name. */
#ifndef SC_CORE_CHECKED_H
#define SC_CORE_CHECKED_H

#include "util/checked.h"

#endif
