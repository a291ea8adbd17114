#!/usr/bin/env bash
# Starts `facility-ca serve` on a free loopback port in a temporary data directory, issues one
# certificate, and runs bench/ocsp_bench against it. Usage: bench/ocsp_bench.sh [BUILD_DIR] [REQUESTS]
set -euo pipefail
build="${1:-build}"
requests="${2:-2000}"
ca="$build/app/facility-ca"
bench="$build/bench/ocsp_bench"
work="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
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
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$port/ca/issuing.crt" && break
  sleep 0.2
done

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/leaf.key" \
  -subj /CN=bench.example.com -out "$work/leaf.csr" 2>/dev/null
"$ca" issue --dir "$work/ca" --csr "$work/leaf.csr" --profile nmos-node --out "$work/leaf.pem" 2>/dev/null
"$ca" ca show issuing --dir "$work/ca" > "$work/issuing.pem"
openssl ocsp -issuer "$work/issuing.pem" -cert "$work/leaf.pem" -no_nonce -reqout "$work/cached.der" >/dev/null
openssl ocsp -issuer "$work/issuing.pem" -cert "$work/leaf.pem" -nonce -reqout "$work/nonce.der" >/dev/null

"$bench" 127.0.0.1 "$port" /ocsp "$work/cached.der" "$work/nonce.der" "$requests"
