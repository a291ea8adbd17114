#!/usr/bin/env bash
# Pre-signed OCSP GET over keep-alive connections, facility-ca against nginx serving the very same
# OCSP response bytes as a fixed file, in one run, on loopback. Every answer wrk counts is checked
# (status 200 and the exact response bytes, in a Lua response hook, for both servers), and a sample
# is verified with `openssl ocsp` after the load. Prints one table. Not a test; not in ctest.
#
#   bench/transport_bench.sh [BUILD_DIR] [SECONDS_PER_RUN] [CONNECTION_COUNTS]
#   defaults: build-rel 5 "8 32 256"
#   PERF_OUT=file: `perf record -g` of serve during each OCSP run (file.<conns>), and
#   `perf stat -e context-switches` of it printed per run.
#
# BUILD_DIR is configured RelWithDebInfo without sanitizers when it has no CMake cache. wrk and
# nginx-light come from Debian (deploy/install-deps.sh) and are installed when missing. bench/run.sh
# runs these cells and every other scenario of issue 16 in one table.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-rel}"
seconds="${2:-5}"
counts="${3:-8 32 256}"
threads=2
# shellcheck source=bench/lib.sh
source bench/lib.sh

bench_tools
bench_build "$build" facility-ca http_fixed
ca="$build/app/facility-ca"
fixed="$build/bench/http_fixed"
bench_begin
work=$bench_work

port="$(free_port)"
nginx_port="$(free_port)"
fixed_port="$(free_port)"
bench_instance "$ca" "$work/ca" "$port"
bench_spawn "$ca" serve --dir "$work/ca" >/dev/null 2>"$work/serve.err"
server=$bench_pid
bench_wait_http "$port"

bench_leaf "$ca" "$work/ca" leaf
"$ca" ca show issuing --dir "$work/ca" >"$work/issuing.pem"
"$ca" ca show root --dir "$work/ca" >"$work/root.pem"
cat "$work/root.pem" "$work/issuing.pem" >"$work/chain.pem"
openssl ocsp -issuer "$work/issuing.pem" -cert "$work/leaf.pem" -no_nonce -reqout "$work/request.der" >/dev/null
path="$(bench_get_path "$work/request.der")"

# The pre-signed answer: what every counted response must be, byte for byte.
curl -s -o "$work/expected.der" "http://127.0.0.1:$port$path"
openssl ocsp -respin "$work/expected.der" -issuer "$work/issuing.pem" -cert "$work/leaf.pem" -CAfile "$work/chain.pem" \
  -no_nonce 2>&1 | grep -q ": good" || { echo "bench: the pre-signed answer does not verify" >&2; exit 1; }

bench_nginx "$work/expected.der" "$nginx_port" "$threads"
# The transport alone: fca::http answering the same bytes from memory, no OCSP work.
bench_spawn "$fixed" "$fixed_port" "$work/expected.der" 2
bench_wait_http "$fixed_port"

# Counts only answers that are 200 with the exact expected bytes (bench/ocsp_check.lua).
run_wrk() {  # url connections → "ok bad errors rate p50 p99"
  EXPECTED="$work/expected.der" bench_wrk "$1" "$2" "$seconds" "$threads"
}

rows=()
for c in $counts; do
  profiler=""
  if [ -n "${PERF_OUT:-}" ]; then
    perf record -q -F 499 -g -p "$server" -o "$PERF_OUT.$c" -- sleep "$seconds" 2>/dev/null &
    profiler=$!
    perf stat -e context-switches -p "$server" -o "$work/perf-stat.$c" -- sleep "$seconds" 2>/dev/null &
    counter=$!
  fi
  read -r _ f_bad f_err f_rate f_p50 f_p99 <<<"$(run_wrk "http://127.0.0.1:$port$path" "$c")"
  if [ -n "$profiler" ]; then
    wait "$profiler" "$counter" || true
    echo "perf, $c connections: $(awk '/context-switches/ { print $1 }' "$work/perf-stat.$c") context switches," \
      "$(awk -v r="$f_rate" -v s="$seconds" 'BEGIN { printf "%.0f", r * s }') requests; profile in $PERF_OUT.$c"
  fi
  read -r _ b_bad b_err b_rate _ b_p99 <<<"$(run_wrk "http://127.0.0.1:$fixed_port$path" "$c")"
  read -r _ n_bad n_err n_rate _ n_p99 <<<"$(run_wrk "http://127.0.0.1:$nginx_port$path" "$c")"
  ratio="$(awk -v a="$f_rate" -v b="$n_rate" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
  bare_ratio="$(awk -v a="$b_rate" -v b="$n_rate" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
  rows+=("$(printf '| %5s | %9.0f | %7s | %7s | %9s | %9.0f | %7s | %9s | %9.0f | %7s | %9s | %9s | %10s |' \
    "$c" "$f_rate" "$f_p50" "$f_p99" "$f_bad/$f_err" "$b_rate" "$b_p99" "$b_bad/$b_err" "$n_rate" "$n_p99" "$n_bad/$n_err" \
    "$ratio" "$bare_ratio")")
done

# After the load: the responder still answers, and the answer verifies.
sample="$(openssl ocsp -issuer "$work/issuing.pem" -cert "$work/leaf.pem" -url "http://127.0.0.1:$port/ocsp" \
  -CAfile "$work/chain.pem" 2>&1)"
grep -q "Response verify OK" <<<"$sample" && grep -q ": good" <<<"$sample" && sample_result="good, verified" ||
  sample_result="FAILED: $sample"

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(uname -sr)"
echo "load: wrk -t$threads -d${seconds}s, keep-alive, GET $path ($(stat -c %s "$work/expected.der") bytes), Lua-checked bodies"
echo "facility-ca: $(sed -n 's/.*"io_threads": \([0-9]*\).*/\1/p' "$work/ca/config.json" | head -1) I/O threads, access log to /dev/null; nginx: $threads workers, access log to /dev/null"
echo
echo "| conns | OCSP req/s | p50 ms  | p99 ms  | bad/errs  | http req/s | p99 ms  | bad/errs  | nginx r/s | p99 ms  | bad/errs  | OCSP/nginx | http/nginx |"
echo "|------:|----------:|--------:|--------:|----------:|----------:|--------:|----------:|----------:|--------:|----------:|----------:|-----------:|"
printf '%s\n' "${rows[@]}"
echo
echo "OCSP = facility-ca serve (ready-to-send index: CertID found in the request bytes, revision checked, DER and headers sent);"
echo "http = bench/http_fixed (the same bytes from memory on fca::http: the transport alone); nginx = the same bytes as a file."
echo "bad = answers that were not 200 with the expected bytes; errs = socket errors and timeouts (wrk --timeout 2s)"
echo "openssl ocsp sample after the load: $sample_result"
if [ -s "$work/serve.err" ]; then
  echo "serve warnings/errors during the run: $(wc -l <"$work/serve.err") lines, first:"
  head -3 "$work/serve.err"
fi
