#!/usr/bin/env bash
# Installs the Debian 12 packages facility-ca builds, runs and tests with.
# Idempotent: does nothing when every package is already present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libssl-dev openssl
  libsqlite3-dev sqlite3
  libboost1.81-dev  # header-only Boost.Beast and Boost.Asio: the HTTP transport
  nlohmann-json3-dev libspdlog-dev libfmt-dev
  catch2 libcli11-dev
  softhsm2 libengine-pkcs11-openssl libp11-dev opensc
  libp11-kit-dev  # pkcs11.h: the key store generates token keys through the PKCS#11 C API
  curl
  python3      # tests/integration/est_channel_binding_client.py: tls-unique of a TLS 1.2 connection (ssl module)
  clang-16 libclang-rt-16-dev  # fuzz/run.sh: libFuzzer (clang 14 cannot compile libstdc++ 12's <expected>)
  testssl.sh   # the EST listener's BCP-003-01 check in tests/integration/est_test.cpp
  bind9-utils  # named-checkzone: `facility-ca dns-sd` output in tests
  nginx-light  # serves the `ocsp export` tree in tests (deploy/nginx-published-tree.conf) and the benchmarks
  python3-jsonschema  # tests/tools/validate_openapi.py: the API's OpenAPI 3.1 document in tests
  wrk          # the load generator of bench/run.sh and the other bench/ scripts
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  # Packages are tools here (nginx for tests and benchmarks), not services: none may start a daemon
  # listening on every interface at install time (Debian's policy-rc.d convention).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
