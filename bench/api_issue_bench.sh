#!/usr/bin/env bash
# Certificate issuance over the REST API (POST /api/v1/certificates from a P-256 CSR) on an HTTPS
# keep-alive listener with 8 concurrent wrk connections, durable commits (synchronous=FULL), next to
# in-process issuance (bench/issue_inprocess: CertificateAuthority::issue from 1 thread and from as
# many threads as connections) on the same machine in the same run. Every API answer is checked in a
# Lua response hook: 201, a Location, and the issued certificate for the CSR's name in the body. The
# certificate rows added are compared with the answers counted (wrk may leave up to one request per
# connection unanswered at the end); the in-process runs check distinct
# serials, row counts and the audit chain themselves. Prints one table with the ratios and the load
# average. Not a test; not in ctest. Target (issue 15): >= 1,500 certificates/s over the API.
#
#   bench/api_issue_bench.sh [BUILD_DIR] [SECONDS] [CONNECTIONS]
#   defaults: build-rel 10 8
#   PROFILE=prefix: `perf record -g` of serve during the API run (prefix.perf) and a count of its
#   fsync/fdatasync/rename calls and context switches (perf stat on tracepoints, printed per certificate).
#   PERF_CALL_GRAPH="--call-graph=dwarf": call stacks through code built without frame pointers.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-rel}"
seconds="${2:-10}"
connections="${3:-8}"

command -v wrk >/dev/null || { [ "$(id -u)" -ne 0 ] && SUDO=sudo || SUDO=; $SUDO apt-get install -y -qq --no-install-recommends wrk; }

# An existing build directory is used as it is configured (a dev build gives dev numbers).
[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFCA_SANITIZE=OFF -DFCA_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target facility-ca issue_inprocess >/dev/null
ca="$(cd "$build" && pwd)/app/facility-ca"
inprocess="$(cd "$build" && pwd)/bench/issue_inprocess"

work="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
load_average() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(load_average)

# --- in-process: each run on a fresh data directory with the same layout
in_process() {
  "$ca" --dir "$work/loop$1" init >/dev/null
  "$inprocess" "$work/loop$1" "$seconds" "$1" | tee -a "$work/inprocess.out" | sed -n 's/.*rate \([0-9.]*\)\/s.*/\1/p'
}
in_process_1=$(in_process 1)
in_process_n=$(in_process "$connections")

# --- over the API
"$ca" --dir "$work/api" init >/dev/null
token="$(cat "$work/api/secrets/api-admin-token")"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/tls.key" -subj /CN=api.example.test \
  -addext subjectAltName=DNS:api.example.test -out "$work/tls.csr" 2>/dev/null
"$ca" --dir "$work/api" issue --csr "$work/tls.csr" --profile server --out "$work/tls.crt" >/dev/null
"$ca" --dir "$work/api" ca show issuing >>"$work/tls.crt"
ocsp_port=$(free_port)
api_port=$(free_port)
python3 - "$work/api/config.json" "$ocsp_port" "$api_port" "$work" "$connections" <<'PY'
import json, sys
path, ocsp, api, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
c = json.load(open(path))
c["serve"]["listeners"] = [
    {"address": "127.0.0.1", "port": ocsp, "frontends": ["ocsp", "crl"]},
    {"address": "127.0.0.1", "port": api, "frontends": ["api"],
     "tls": {"certificate": work + "/tls.crt", "key": work + "/tls.key"}}]
c["serve"]["keep_alive_max_count"] = 1000000
# One worker per connection: an issuance waits for its batch's fsync on a worker thread, so the pool
# size bounds how many can share a batch (the default of 4 caps batches at 4).
c["serve"]["threads"] = int(sys.argv[5])
c["log"]["level"] = "warn"
json.dump(c, open(path, "w"))
PY
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/leaf.key" -subj /CN=bench.example.test \
  -addext subjectAltName=DNS:bench.example.test -out "$work/leaf.csr" 2>/dev/null
"$ca" --dir "$work/api" serve >"$work/access.log" 2>"$work/serve.err" &
server=$!
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$api_port") 2>/dev/null && break; sleep 0.1; done
rows() { sqlite3 "$work/api/ca.db" 'SELECT count(*) FROM certificates'; }
before=$(rows)

python3 - "$work/leaf.csr" "$token" >"$work/issue.lua" <<'PY'
import json, sys
body = json.dumps({"csr": open(sys.argv[1]).read(), "profile": "nmos-node"})
print('wrk.method = "POST"')
print('wrk.body = ' + json.dumps(body))
print('wrk.headers["Content-Type"] = "application/json"')
print('wrk.headers["Authorization"] = "Bearer ' + sys.argv[2] + '"')
# An answer counts only as a 201 with a Location and the certificate for this CSR's name in its body.
# Each wrk thread counts in its own Lua state; done() runs in another and gathers the counts.
print('local threads = {}')
print('function setup(thread) table.insert(threads, thread) end')
print('function init(args) bad = 0 end')
print('local function has(body, text) return body ~= nil and string.find(body, text, 1, true) ~= nil end')
print('function response(status, headers, body)')
print('  if status ~= 201 or headers["Location"] == nil or not has(body, \'"certificate_pem":"-----BEGIN CERTIFICATE-----\')')
print('     or not has(body, \'"common_name":"bench.example.test"\') then bad = bad + 1 end')
print('end')
print('function done(summary, latency, requests)')
print('  local b = 0')
print('  for _, t in ipairs(threads) do b = b + t:get("bad") end')
print('  io.write(string.format("NOT201 %d\\n", b))')
print('end')
PY
profilers=()
if [ -n "${PROFILE:-}" ]; then
  perf record -q -F 499 ${PERF_CALL_GRAPH:--g} -p "$server" -o "$PROFILE.perf" -- sleep "$seconds" 2>/dev/null &
  profilers+=($!)
  perf stat -e syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync,syscalls:sys_enter_rename,context-switches,task-clock \
    -p "$server" -o "$work/perf-stat" -- sleep "$seconds" 2>/dev/null &
  profilers+=($!)
fi
wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$work/issue.lua" "https://127.0.0.1:$api_port/api/v1/certificates" >"$work/wrk.out"
for p in "${profilers[@]}"; do wait "$p" || true; done
total=$(awk '/requests in/ {print $1}' "$work/wrk.out")
not201=$(awk '/^NOT201/ {print $2}' "$work/wrk.out")
# Only answers that carried the certificate count towards the rate.
rate=$(awk -v total="$total" -v bad="$not201" '/Requests\/sec/ {print int($2 * (total - bad) / (total > 0 ? total : 1))}' "$work/wrk.out")
errors=$(awk '/Socket errors/ {print}' "$work/wrk.out")
p50=$(awk '/ 50%/ {print $2}' "$work/wrk.out")
p99=$(awk '/ 99%/ {print $2}' "$work/wrk.out")
after=$(rows)
load_end=$(load_average)

ratio() { python3 -c "print(f'{$1/max($2,1):.2f}')"; }
printf '| path | certificates/s | p50 | p99 | answers not the certificate | ratio to in-process (1 thread) | ratio to in-process (%s threads) |\n' "$connections"
printf '|---|---:|---:|---:|---:|---:|---:|\n'
printf '| in-process CertificateAuthority::issue, 1 thread | %.0f | | | | 1.00 | %s |\n' "$in_process_1" "$(ratio "$in_process_1" "$in_process_n")"
printf '| in-process CertificateAuthority::issue, %s threads | %.0f | | | | %s | 1.00 |\n' "$connections" "$in_process_n" \
  "$(ratio "$in_process_n" "$in_process_1")"
printf '| POST /api/v1/certificates, TLS keep-alive, %s connections | %s | %s | %s | %s | %s | %s |\n' "$connections" "$rate" \
  "$p50" "$p99" "$not201" "$(ratio "$rate" "$in_process_1")" "$(ratio "$rate" "$in_process_n")"
sed 's/^/in-process check: /' "$work/inprocess.out"
echo "API: $total answers counted by wrk, $((after - before)) certificate rows added${errors:+; $errors}"
echo "load average: $load_start at the start, $load_end at the end ($(nproc) cores)"
if [ -n "${PROFILE:-}" ]; then
  issued=$((after - before))
  awk -v n="$issued" '/syscalls:|context-switches|task-clock/ { gsub(",", "", $1); printf "serve, per certificate: %.2f %s\n", $1 / (n > 0 ? n : 1), $2 }' "$work/perf-stat"
  echo "profile: $PROFILE.perf (perf report -i $PROFILE.perf --no-children)"
fi
