#!/usr/bin/env bash
# EST simpleenroll throughput: a fresh `init --lab` instance (P-256 CAs), `serve` on loopback, 16
# clients each opening a new TLS connection per enrolment with the lab device certificate. Prints
# the rate as a ratio to `openssl speed ecdsap256` signatures/s measured in the same run (each
# enrolment costs the server at least one P-256 signature for the certificate, plus the handshake).
# Usage: bench/est_bench.sh BUILD_DIR [COUNT] [CONCURRENCY]
set -euo pipefail
build=${1:?usage: est_bench.sh BUILD_DIR [COUNT] [CONCURRENCY]}
count=${2:-2000}
concurrency=${3:-16}
ca="$build/app/facility-ca"
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
"$ca" --dir "$work/data" init --lab --key-type p256 >/dev/null 2>&1
port_http=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
port_https=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$work/data/config.json" "$port_http" "$port_https" <<'PY'
import json, sys
path, plain, tls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = json.load(open(path))
c["serve"]["listeners"][0]["port"] = plain
c["serve"]["listeners"][1]["port"] = tls
c["urls"]["base"] = f"http://127.0.0.1:{plain}"
json.dump(c, open(path, "w"), indent=2)
PY
"$ca" --dir "$work/data" serve >"$work/access.log" 2>"$work/serve.log" &
pid=$!
for _ in $(seq 100); do grep -q "listening on https://" "$work/serve.log" && break; sleep 0.1; done
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench.localhost \
  -addext subjectAltName=DNS:bench.localhost -keyout "$work/bench.key" -out "$work/bench.csr" 2>/dev/null
lab="$work/data/lab"
result=$("$build/bench/est_bench" "$port_https" "$lab/ca-chain.pem" "$lab/device.crt.pem" "$lab/device.key.pem" \
  "$work/bench.csr" "$count" "$concurrency")
echo "$result"
rate=$(sed -n 's/.*rate \([0-9.]*\)\/s.*/\1/p' <<<"$result")
speed=$(openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/256 bits ecdsa/ {print $(NF-1)}')
echo "openssl speed ecdsap256: $speed sign/s (one core)"
python3 -c "print(f'ratio enrolments/s : P-256 signs/s = {float($rate)/float($speed):.3f}')"
