/* The keyed hash lives in the utility library (util/hash.h), which the JSON
 * reader shares with the engine; engine code keeps this include name. */
#ifndef SC_CORE_HASH_H
#define SC_CORE_HASH_H

#include "util/hash.h"

#endif
