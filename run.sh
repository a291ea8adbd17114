#!/usr/bin/env bash
# Sets up everything (Debian packages, optimised build) and runs the main job: a CA in a local data
# directory (./facility-ca-data, or $FACILITY_CA_DIR) with a root and an issuing CA, a demo server
# certificate issued from it, and `facility-ca serve` until Ctrl-C: OCSP and CRLs on
# http://127.0.0.1:8080, EST and the REST admin API on https://127.0.0.1:8443.
set -euo pipefail
cd "$(dirname "$0")"

bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFCA_BUILD_TESTS=OFF >/dev/null
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
"$ca" ca show issuing > "$demo/issuing.pem"
"$ca" ca show root > "$demo/root.pem"
"$ca" ca list
"$ca" list
cat <<INFO
CA data directory: $FACILITY_CA_DIR (demo certificate in $demo)
Serving OCSP at http://127.0.0.1:8080/ocsp and CRLs at http://127.0.0.1:8080/crl/issuing.crl; try
  openssl ocsp -issuer $demo/issuing.pem -cert $demo/localhost.crt.pem -url http://127.0.0.1:8080/ocsp -CAfile $demo/localhost.chain.pem
EST (RFC 7030) at https://localhost:8443/.well-known/est/ (cacerts needs no client certificate; a
first enrolment needs a manufacturer root in est.labels[].trust.roots, or init --lab: docs/est.md)
REST admin API at https://localhost:8443/api/v1/ with the admin token init wrote to
$FACILITY_CA_DIR/secrets/api-admin-token (docs/api.md); try
  curl --cacert $demo/root.pem -H "Authorization: Bearer \$(cat $FACILITY_CA_DIR/secrets/api-admin-token)" https://localhost:8443/api/v1/cas
INFO
exec "$ca" serve
