#!/usr/bin/env bash
# Sets up everything (Debian packages, release build) and runs the main job: a CA in a local data
# directory (./facility-ca-data, or $FACILITY_CA_DIR) with a root and an issuing CA, and a demo
# server certificate issued from it.
set -euo pipefail
cd "$(dirname "$0")"

bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFCA_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" --target facility-ca

export FACILITY_CA_DIR="${FACILITY_CA_DIR:-$PWD/facility-ca-data}"
ca=./build/app/facility-ca
if [ ! -f "$FACILITY_CA_DIR/config.json" ]; then
  "$ca" init
fi
demo="$FACILITY_CA_DIR/demo"
if [ ! -f "$demo/localhost.crt.pem" ]; then
  "$ca" keygen-issue --cn localhost --profile nmos-node --key-type p256 --out-dir "$demo"
fi
"$ca" ca list
"$ca" list
echo "CA data directory: $FACILITY_CA_DIR (demo certificate in $demo)"
