#!/usr/bin/env bash
# Sets up everything (Debian packages, optimised build) and runs the main job: a CA in a local data
# directory (./facility-ca-data, or $FACILITY_CA_DIR) with a root and an issuing CA, a demo server
# certificate issued from it, and `facility-ca serve` until Ctrl-C: OCSP and CRLs on
# http://127.0.0.1:8080, EST and the REST admin API on https://127.0.0.1:8443.
#
#   ./run.sh --lab   the interop lab (docs/lab.md): a lab instance in ./facility-ca-lab (or
#                    $FACILITY_CA_DIR) with root, issuing CA, lab manufacturer and device certificate,
#                    OCSP, CRLs, EST and the REST API; prints every endpoint, trust anchor, credential
#                    and copy-paste commands, then serves until Ctrl-C.
#
# FACILITY_CA_BIN=path: use that facility-ca binary (a build of your own, the tests) instead of
# installing packages and building. FACILITY_CA_HTTP_PORT / FACILITY_CA_HTTPS_PORT (default 8080 /
# 8443): the ports of a lab directory made by this run.
set -euo pipefail
cd "$(dirname "$0")"

lab=0
case "${1:-}" in
  --lab) lab=1 ;;
  "") ;;
  *) echo "usage: $0 [--lab]" >&2; exit 2 ;;
esac

if [ -n "${FACILITY_CA_BIN:-}" ]; then
  ca=$FACILITY_CA_BIN
else
  bash deploy/install-deps.sh
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFCA_BUILD_TESTS=OFF >/dev/null
  cmake --build build -j"$(nproc)" --target facility-ca
  ca=./build/app/facility-ca
fi

run_lab() {
  export FACILITY_CA_DIR="${FACILITY_CA_DIR:-$PWD/facility-ca-lab}"
  local dir=$FACILITY_CA_DIR
  if [ ! -f "$dir/config.json" ]; then
    local http_port=${FACILITY_CA_HTTP_PORT:-8080} https_port=${FACILITY_CA_HTTPS_PORT:-8443}
    "$ca" init --lab --url-base "http://127.0.0.1:$http_port"
    # init writes the two listeners with the default ports, in this order.
    sed -i -e "s/\"port\": 8080,/\"port\": $http_port,/" -e "s/\"port\": 8443,/\"port\": $https_port,/" "$dir/config.json"
  elif ! "$ca" lab fault list >/dev/null; then
    echo "$dir is not a lab instance (made by init --lab); point FACILITY_CA_DIR at another directory" >&2
    exit 3
  fi
  local ports
  mapfile -t ports < <(grep -o '"port": *[0-9]*' "$dir/config.json" | grep -o '[0-9]*$')
  local http="http://127.0.0.1:${ports[0]}" https="https://localhost:${ports[1]}" l="$dir/lab"
  "$ca" ca list
  cat <<INFO

== facility-ca lab ($dir) ==
Endpoints
  OCSP           $http/ocsp                  (POST, or GET $http/ocsp/<base64>)
  CRLs           $http/crl/issuing.crl (DER), $http/crl/issuing.pem, /crl/root.crl
  CA certs       $http/ca/issuing.crt, $http/ca/root.pem
  EST            $https/.well-known/est/     (cacerts, csrattrs, simpleenroll, simplereenroll, serverkeygen)
  REST API       $https/api/v1/              (OpenAPI: $https/api/v1/openapi.json)
Trust anchors
  root CA        $l/root.pem
  issuing CA     $l/issuing.pem
  chain          $l/ca-chain.pem              (issuing + root: --cacert / -CAfile for every HTTPS endpoint)
  hash dir       $dir/crl-hash                (-CApath, with CRLs for -crl_check)
  manufacturer   $l/manufacturer-root.pem     (the EST label's trusted device maker)
Credentials
  EST device     $l/device.crt.pem  key $l/device.key.pem (first enrolment)
  API admin      token in $dir/secrets/api-admin-token
  test certs     $l/valid.crt.pem, valid-rsa, revoked, wrong-eku (.crt.pem, .key.pem, .chain.pem)
Faults and bad certificates: facility-ca lab ... (docs/lab.md)

Copy-paste commands (bash, from any directory):
# --- lab commands ---
openssl s_client -connect localhost:${ports[1]} -servername localhost -CAfile $l/ca-chain.pem -verify_return_error -verify_hostname localhost -brief </dev/null
openssl ocsp -issuer $l/issuing.pem -cert $l/valid.crt.pem -url $http/ocsp -CAfile $l/ca-chain.pem
openssl ocsp -issuer $l/issuing.pem -cert $l/revoked.crt.pem -url $http/ocsp -CAfile $l/ca-chain.pem
curl -fsS $http/crl/issuing.pem -o $l/issuing.crl.pem && openssl verify -crl_check -CAfile $l/ca-chain.pem -CRLfile $l/issuing.crl.pem $l/valid.crt.pem
curl -fsS --cacert $l/ca-chain.pem -H "Authorization: Bearer \$(cat $dir/secrets/api-admin-token)" $https/api/v1/cas
curl -fsS --cacert $l/ca-chain.pem $https/.well-known/est/cacerts | openssl base64 -d | openssl pkcs7 -inform DER -print_certs
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=node1.localhost -addext subjectAltName=DNS:node1.localhost -keyout $l/node1.key -out $l/node1.csr
curl -fsS --cacert $l/ca-chain.pem --cert $l/device.crt.pem --key $l/device.key.pem -H 'Content-Type: application/pkcs10' --data-binary @$l/node1.csr $https/.well-known/est/simpleenroll | openssl base64 -d | openssl pkcs7 -inform DER -print_certs -out $l/node1.pem && openssl verify -CAfile $l/ca-chain.pem $l/node1.pem
# --- end of lab commands ---
INFO
  exec "$ca" serve
}

if ((lab)); then
  run_lab
fi

export FACILITY_CA_DIR="${FACILITY_CA_DIR:-$PWD/facility-ca-data}"
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
