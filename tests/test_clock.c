/* The one clock (src/core/clock.h): readings never go backwards, and a sleep
 * of 20 ms reads as at least 20 ms (nanosleep sleeps at least that long on
 * the monotonic clock) and as less than an hour (the unit is seconds, not
 * milliseconds or nanoseconds). Nothing here depends on how fast the
 * machine is. */
#define _POSIX_C_SOURCE 200809L
#include "core/clock.h"
#include "test_util.h"

#include <time.h>

int main(void) {
    double prev = sc_clock_seconds();
    int backwards = 0;
    for (int i = 0; i < 100000; i++) {
        double t = sc_clock_seconds();
        if (t < prev) backwards++;
        prev = t;
    }
    CHECKF(backwards == 0, "%d readings went backwards", backwards);
    CHECK(prev > 0);
    double t0 = sc_clock_seconds();
    struct timespec d = {0, 20 * 1000 * 1000};
    while (nanosleep(&d, &d)) {
    }
    double dt = sc_clock_seconds() - t0;
    CHECKF(dt >= 0.020 && dt < 3600, "a 20 ms sleep read %g s", dt);
    TEST_MAIN_END();
}
