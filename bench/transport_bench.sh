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
# BUILD_DIR is (re)built RelWithDebInfo without sanitizers. wrk and nginx-light come from Debian
# and are installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-rel}"
seconds="${2:-5}"
counts="${3:-8 32 256}"
threads=2

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
if ((${#need[@]})); then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFCA_SANITIZE=OFF -DFCA_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target facility-ca http_fixed >/dev/null
ca="$build/app/facility-ca"
fixed="$build/bench/http_fixed"

work="$(mktemp -d)"
server=""
web=""
bare=""
cleanup() {
  [ -n "$bare" ] && kill -TERM "$bare" 2>/dev/null && wait "$bare" 2>/dev/null || true
  [ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  [ -n "$web" ] && kill -TERM "$web" 2>/dev/null && wait "$web" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port="$(free_port)"
nginx_port="$(free_port)"
fixed_port="$(free_port)"

"$ca" init --dir "$work/ca" --url-base "http://127.0.0.1:$port" >/dev/null 2>&1
python3 - "$work/ca/config.json" "$port" <<'PY'
import json, sys
path, port = sys.argv[1], int(sys.argv[2])
config = json.load(open(path))
config["serve"]["listeners"][0]["port"] = port
config["log"]["level"] = "warn"
json.dump(config, open(path, "w"), indent=2)
PY
"$ca" serve --dir "$work/ca" >/dev/null 2>"$work/serve.err" &
server=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/ca/issuing.crt" && break
  sleep 0.1
done

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/leaf.key" \
  -subj /CN=bench.example.com -out "$work/leaf.csr" 2>/dev/null
"$ca" issue --dir "$work/ca" --csr "$work/leaf.csr" --profile nmos-node --out "$work/leaf.pem" 2>/dev/null
"$ca" ca show issuing --dir "$work/ca" >"$work/issuing.pem"
"$ca" ca show root --dir "$work/ca" >"$work/root.pem"
cat "$work/root.pem" "$work/issuing.pem" >"$work/chain.pem"
openssl ocsp -issuer "$work/issuing.pem" -cert "$work/leaf.pem" -no_nonce -reqout "$work/request.der" >/dev/null
path="/ocsp/$(base64 -w0 "$work/request.der" | sed 's|/|%2F|g; s|+|%2B|g; s|=|%3D|g')"

# The pre-signed answer: what every counted response must be, byte for byte.
curl -s -o "$work/expected.der" "http://127.0.0.1:$port$path"
openssl ocsp -respin "$work/expected.der" -issuer "$work/issuing.pem" -cert "$work/leaf.pem" -CAfile "$work/chain.pem" \
  -no_nonce 2>&1 | grep -q ": good" || { echo "bench: the pre-signed answer does not verify" >&2; exit 1; }

mkdir -p "$work/nginx/root" "$work/nginx/tmp"
cp "$work/expected.der" "$work/nginx/root/response.der"
chmod -R a+rX "$work"  # nginx workers run as another user when the bench runs as root
cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes $threads;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log /dev/null;
  client_body_temp_path $work/nginx/tmp; proxy_temp_path $work/nginx/tmp; fastcgi_temp_path $work/nginx/tmp;
  uwsgi_temp_path $work/nginx/tmp; scgi_temp_path $work/nginx/tmp;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/nginx/root;
    location / { default_type application/ocsp-response; rewrite ^ /response.der break; }
  }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
web=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$nginx_port/" && break
  sleep 0.1
done

# The transport alone: fca::http answering the same bytes from memory, no OCSP work.
"$fixed" "$fixed_port" "$work/expected.der" 2 &
bare=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$fixed_port/" && break
  sleep 0.1
done

cat >"$work/check.lua" <<'LUA'
-- Counts only answers that are 200 with the exact expected bytes; everything else is "bad".
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  ok, bad = 0, 0
  local f = assert(io.open(os.getenv("EXPECTED"), "rb"))
  expected = f:read("*a")
  f:close()
end
function response(status, headers, body)
  if status == 200 and body == expected then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %.1f %.2f %.2f\n", o, b, e.connect + e.read + e.write + e.status + e.timeout,
    o / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA

run_wrk() {  # url connections → "ok bad errors rate p50 p99"
  EXPECTED="$work/expected.der" wrk -t"$threads" -c"$2" -d"${seconds}s" --timeout 2s -s "$work/check.lua" "$1" 2>&1 |
    awk '/^RESULT/ { print $2, $3, $4, $5, $6, $7 }'
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
  read -r f_ok f_bad f_err f_rate f_p50 f_p99 <<<"$(run_wrk "http://127.0.0.1:$port$path" "$c")"
  if [ -n "$profiler" ]; then
    wait "$profiler" "$counter" || true
    echo "perf, $c connections: $(awk '/context-switches/ { print $1 }' "$work/perf-stat.$c") context switches," \
      "$(awk -v r="$f_rate" -v s="$seconds" 'BEGIN { printf "%.0f", r * s }') requests; profile in $PERF_OUT.$c"
  fi
  read -r b_ok b_bad b_err b_rate b_p50 b_p99 <<<"$(run_wrk "http://127.0.0.1:$fixed_port$path" "$c")"
  read -r n_ok n_bad n_err n_rate n_p50 n_p99 <<<"$(run_wrk "http://127.0.0.1:$nginx_port$path" "$c")"
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
