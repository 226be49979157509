/* Training data: the reader of `switchc train`'s files and its batches. The
 * whole API is public (sc_data_* in switchc.h, documented there); data.c
 * implements it on the span corruption of span_corruption.h. */
#ifndef SC_TRAIN_DATA_H
#define SC_TRAIN_DATA_H

#include "switchc.h"
#include "train/span_corruption.h"

#endif
