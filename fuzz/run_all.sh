#!/bin/sh
# Builds every fuzz target (clang, libFuzzer + ASan + UBSan) and runs each for
# SECONDS (default 30) on a scratch copy of its seed corpus fuzz/corpus/<name>/
# (the target name without "fuzz_"). Prints executions and coverage per
# target; exits non-zero if a target crashes, leaks or fails to build.
# The targets' own stdout/stderr are closed (-close_fd_mask=3: the CLI
# parser's messages would flood the log); sanitizer reports still print.
# Crash inputs are left in build-fuzz/artifacts/.
set -eu
SECONDS_EACH=${1:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="$ROOT/build-fuzz"
CC=${CC:-clang}
command -v "$CC" >/dev/null 2>&1 || { echo "run_all.sh: $CC not found" >&2; exit 2; }
CC="$CC" cmake -S "$ROOT" -B "$BUILD" -DSWITCHC_FUZZ=ON -DSWITCHC_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"${JOBS:-2}" >/dev/null
mkdir -p "$BUILD/artifacts"
status=0
printf '%-22s %12s %8s %8s  %s\n' target execs cov ft result
for src in "$ROOT"/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    short=${name#fuzz_}
    work="$BUILD/corpus-run/$short"
    rm -rf "$work"
    mkdir -p "$work"
    if [ -d "$ROOT/fuzz/corpus/$short" ]; then cp -R "$ROOT/fuzz/corpus/$short/." "$work/"; fi
    log="$BUILD/$name.log"
    set +e
    "$BUILD/$name" -max_total_time="$SECONDS_EACH" -print_final_stats=1 -max_len=65536 -close_fd_mask=3 \
        -rss_limit_mb=2048 -artifact_prefix="$BUILD/artifacts/$name-" "$work" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | sed 's/cov: //')
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | sed 's/ft: //')
    if [ "$rc" -eq 0 ]; then result=ok; else result="FAILED (rc $rc, see $log)"; status=1; fi
    printf '%-22s %12s %8s %8s  %s\n' "$name" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit $status
