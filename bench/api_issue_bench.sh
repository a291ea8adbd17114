#!/usr/bin/env bash
# Certificate issuance over the REST API (POST /api/v1/certificates from a P-256 CSR) on an HTTPS
# keep-alive listener with 8 concurrent wrk connections, durable commits (synchronous=FULL), next to
# in-process issuance (tests/tools/issue_loop: CertificateAuthority::issue in a loop, one thread) on
# the same machine in the same run. Every API answer is checked to be 201 in a Lua response hook; the
# number of certificates in the database afterwards is compared with the 201s counted. Prints one
# table with the ratio. Not a test; not in ctest. Target (issue 15): >= 1,500 certificates/s.
#
#   bench/api_issue_bench.sh [BUILD_DIR] [SECONDS] [CONNECTIONS]
#   defaults: build-rel 10 8
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-rel}"
seconds="${2:-10}"
connections="${3:-8}"

command -v wrk >/dev/null || { [ "$(id -u)" -ne 0 ] && SUDO=sudo || SUDO=; $SUDO apt-get install -y -qq --no-install-recommends wrk; }

# An existing build directory is used as it is configured (a dev build gives dev numbers).
[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFCA_SANITIZE=OFF -DFCA_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target facility-ca issue_loop >/dev/null
ca="$(pwd)/$build/app/facility-ca"
loop="$(pwd)/$build/tests/issue_loop"

work="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- in-process: the same data directory layout, its own database
"$ca" --dir "$work/loop" init >/dev/null
timeout -s KILL "$seconds" "$loop" "$work/loop" >"$work/loop.out" 2>"$work/loop.err" || true
in_process=$(($(wc -l <"$work/loop.out") / seconds))

# --- over the API
"$ca" --dir "$work/api" init >/dev/null
token="$(cat "$work/api/secrets/api-admin-token")"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/tls.key" -subj /CN=api.example.test \
  -addext subjectAltName=DNS:api.example.test -out "$work/tls.csr" 2>/dev/null
"$ca" --dir "$work/api" issue --csr "$work/tls.csr" --profile server --out "$work/tls.crt" >/dev/null
"$ca" --dir "$work/api" ca show issuing >>"$work/tls.crt"
ocsp_port=$(free_port)
api_port=$(free_port)
python3 - "$work/api/config.json" "$ocsp_port" "$api_port" "$work" <<'PY'
import json, sys
path, ocsp, api, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
c = json.load(open(path))
c["serve"]["listeners"] = [
    {"address": "127.0.0.1", "port": ocsp, "frontends": ["ocsp", "crl"]},
    {"address": "127.0.0.1", "port": api, "frontends": ["api"],
     "tls": {"certificate": work + "/tls.crt", "key": work + "/tls.key"}}]
c["serve"]["keep_alive_max_count"] = 1000000
c["log"]["level"] = "warn"
json.dump(c, open(path, "w"))
PY
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/leaf.key" -subj /CN=bench.example.test \
  -addext subjectAltName=DNS:bench.example.test -out "$work/leaf.csr" 2>/dev/null
"$ca" --dir "$work/api" serve >"$work/access.log" 2>"$work/serve.err" &
server=$!
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$api_port") 2>/dev/null && break; sleep 0.1; done
before=$("$ca" --dir "$work/api" list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')

python3 - "$work/leaf.csr" "$token" >"$work/issue.lua" <<'PY'
import json, sys
body = json.dumps({"csr": open(sys.argv[1]).read(), "profile": "nmos-node"})
print('wrk.method = "POST"')
print('wrk.body = ' + json.dumps(body))
print('wrk.headers["Content-Type"] = "application/json"')
print('wrk.headers["Authorization"] = "Bearer ' + sys.argv[2] + '"')
print('local bad = 0')
print('response = function(status, headers, body) if status ~= 201 then bad = bad + 1 end end')
print('done = function(summary, latency, requests) io.write(string.format("NOT201 %d\\n", bad)) end')
PY
wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$work/issue.lua" "https://127.0.0.1:$api_port/api/v1/certificates" >"$work/wrk.out"
rate=$(awk '/Requests\/sec/ {print int($2)}' "$work/wrk.out")
not201=$(awk '/^NOT201/ {print $2}' "$work/wrk.out")
p99=$(awk '/ 99%/ {print $2}' "$work/wrk.out")
after=$("$ca" --dir "$work/api" list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')

printf '| path | certificates/s | p99 | answers not 201 | ratio to in-process |\n|---|---|---|---|---|\n'
printf '| in-process CertificateAuthority::issue, 1 thread | %s | | | 1.00 |\n' "$in_process"
printf '| POST /api/v1/certificates, TLS keep-alive, %s connections | %s | %s | %s | %s |\n' "$connections" "$rate" "$p99" "$not201" \
  "$(python3 -c "print(f'{$rate/max($in_process,1):.2f}')")"
echo "certificates in the API database: $before before, $after after (wrk counts requests still in flight at the end too)"
