/* The one clock every timing in switchc reads: seconds on the monotonic
 * clock, as a double. Monotonic, so a wall-clock step (NTP, a user setting
 * the date) never makes a duration negative or huge; only differences
 * between two readings mean anything. Leaves out process CPU time, which a
 * caller that wants it (bench_matmul with one thread) reads itself. */
#ifndef SC_UTIL_CLOCK_H
#define SC_UTIL_CLOCK_H

/* Seconds since an unspecified fixed point (CLOCK_MONOTONIC); resolution
 * about a nanosecond on Linux, doubles keep microseconds for ~100 years of
 * uptime. Thread-safe. */
double sc_clock_seconds(void);

#endif
