#!/usr/bin/env bash
# Sets up everything (Debian packages, sanitizer build) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")"

bash deploy/install-deps.sh
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFCA_SANITIZE=ON -DFCA_BUILD_TESTS=ON >/dev/null
cmake --build build-test -j"$(nproc)"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd build-test
ctest --output-on-failure --timeout 900 -j"$(nproc)"
