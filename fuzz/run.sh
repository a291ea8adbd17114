#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan, coverage) and runs each, one at a time and
# niced, for a bounded time. New inputs go to a scratch corpus under the build directory; the seeds
# in fuzz/corpus/ are read, never written. Usage:
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]      (default 60 s, every target)
#   FUZZ_RUNS=1000000 fuzz/run.sh 900                  (stop each at 10^6 executions, or 900 s)
# Any crash, leak or sanitizer report stops that target with its reproducer in build-fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(ocsp_request ocsp_get csr_pem csr_der config serial date punycode est_body api_request audit_head)

# Debian 12's default clang 14 cannot compile libstdc++ 12's <expected>: the header wants
# __cpp_concepts >= 202002L, and defining that is not enough for clang 14, which lacks conditionally
# trivial destructors (P0848), so std::expected<non-trivial> has a deleted destructor. clang 16
# (Debian 12 package clang-16, libFuzzer in libclang-rt-16-dev) has P0848 but still reports
# 201907L, so the macro is defined for it (the redefinition warning silenced).
clang="${FUZZ_CXX:-clang++-16}"
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$clang" -DFCA_FUZZ=ON \
  -DFCA_BUILD_TESTS=OFF -DCMAKE_CXX_FLAGS="-D__cpp_concepts=202002L -Wno-macro-redefined" \
  ${CMAKE_CXX_COMPILER_LAUNCHER:+-DCMAKE_CXX_COMPILER_LAUNCHER=$CMAKE_CXX_COMPILER_LAUNCHER} >/dev/null
nice cmake --build build-fuzz -j"${FUZZ_JOBS:-2}" --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p build-fuzz/artifacts
for target in "${targets[@]}"; do
  scratch="build-fuzz/corpus/$target"
  mkdir -p "$scratch"
  echo "== $target: ${seconds}s"
  nice build-fuzz/fuzz/"fuzz_$target" -max_total_time="$seconds" ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} -max_len=65536 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$target-" "$scratch" "fuzz/corpus/$target" \
    2>&1 | tee "build-fuzz/$target.log" | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)" || true
  if grep -qE "ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|runtime error:|deadly signal" "build-fuzz/$target.log"; then
    echo "!! $target found a problem: see build-fuzz/$target.log and build-fuzz/artifacts/"
    exit 1
  fi
done
