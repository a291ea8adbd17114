#!/usr/bin/env bash
# The benchmark harness of issue 16, in one command: builds BUILD_DIR (default build-rel) as
# RelWithDebInfo without sanitizers when it has no CMake cache, makes throw-away CA instances, starts
# `facility-ca serve` and the baselines (nginx-light serving the same fixed answer, bench/http_fixed,
# `openssl ocsp -index`, `openssl speed`) on 127.0.0.1 only, runs every scenario with bounded
# durations and counts, checks every counted answer (HTTP status and content), stops everything (also
# on failure and Ctrl-C) and prints one table: scenario | figure | baseline (same run) | ratio |
# target | result. Not a test; not in ctest. docs/performance.md says what each row measures.
#
#   bench/run.sh [--quick] [BUILD_DIR]
#   --quick: 2 s per load cell and smaller counts, under 2 minutes; without it 5 s cells, the
#   5-minute RSS run, the 10^4-certificate memory figure after a longer idle and the
#   10^6-certificate rows (bench/scale.sh), under 15 minutes.
#
# Pass/fail conditions are small functions handed to `verdict`:
# shellcheck disable=SC2317
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
if [ "${1:-}" = "--quick" ]; then
  quick=1
  shift
fi
case "${1:-}" in -*) echo "usage: bench/run.sh [--quick] [BUILD_DIR]" >&2; exit 2 ;; esac
build="${1:-build-rel}"
# shellcheck source=bench/lib.sh
source bench/lib.sh
# shellcheck source=bench/scale.sh
source bench/scale.sh

if ((quick)); then
  seconds=2 issue_seconds=2 est_count=600 idle_seconds=3
else
  seconds=5 issue_seconds=8 est_count=3000 idle_seconds=10
fi
counts="8 32 256"
wrk_threads=2
started=$(date +%s)
started_at=$(date -u '+%Y-%m-%d %H:%M UTC')
load_start=$(bench_load)

bench_tools
bench_build "$build" facility-ca http_fixed issue_inprocess est_bench crl_bench seed_certificates
ca="$(cd "$build" && pwd)/app/facility-ca"
bench_begin
work=$bench_work

rows=()
checks=()
row() { rows+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); }
check() { checks+=("$1"); echo "bench: $1" >&2; }
ratio() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (b > 0) printf "%.*f", d, a / b; else printf "n/a" }'; }
# Exit status 0 when A >= B (numbers).
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }
rate() { awk -v r="$1" 'BEGIN { printf "%.0f", r }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
verdict() { if "$@"; then echo PASS; else echo FAIL; fi; }

# --- the OCSP instance: a P-256 CA, one good and one revoked leaf, the answers every load must get
port=$(free_port)
bench_instance "$ca" "$work/ca" "$port"
dir="$work/ca"
bench_spawn "$ca" serve --dir "$dir" >/dev/null 2>"$work/serve.err"
server=$bench_pid
bench_wait_http "$port"
bench_leaf "$ca" "$dir" leaf
bench_leaf "$ca" "$dir" gone
"$ca" revoke --dir "$dir" "$(openssl x509 -in "$work/gone.pem" -noout -serial | cut -d= -f2)" --reason keyCompromise >/dev/null
"$ca" ca show issuing --dir "$dir" >"$work/issuing.pem"
"$ca" ca show root --dir "$dir" >"$work/root.pem"
cat "$work/root.pem" "$work/issuing.pem" >"$work/chain.pem"
openssl ocsp -issuer "$work/issuing.pem" -cert "$work/leaf.pem" -no_nonce -reqout "$work/request.der" >/dev/null
openssl ocsp -issuer "$work/issuing.pem" -cert "$work/leaf.pem" -reqout "$work/nonce-request.der" >/dev/null
get_path=$(bench_get_path "$work/request.der")
curl -s -o "$work/expected.der" "http://127.0.0.1:$port$get_path"
curl -s -o "$work/expected-post.der" -H 'Content-Type: application/ocsp-request' --data-binary @"$work/request.der" \
  "http://127.0.0.1:$port/ocsp"
cmp -s "$work/expected.der" "$work/expected-post.der" ||
  { echo "bench: the pre-signed answers to GET and POST differ" >&2; exit 1; }
openssl ocsp -respin "$work/expected.der" -issuer "$work/issuing.pem" -cert "$work/leaf.pem" -CAfile "$work/chain.pem" \
  -no_nonce 2>&1 | grep -q ": good" || { echo "bench: the pre-signed answer does not verify as good" >&2; exit 1; }

# The answer asked for by openssl's own client, verified: signature, chain, status (and nonce).
sample() {  # URL CERT EXPECTED_STATUS [openssl ocsp options...]
  local url=$1 cert=$2 status=$3 out
  shift 3
  out=$(openssl ocsp -issuer "$work/issuing.pem" -cert "$cert" -url "$url" -CAfile "$work/chain.pem" "$@" 2>&1)
  if grep -q "Response verify OK" <<<"$out" && grep -q ": $status" <<<"$out" && ! grep -qi "nonce" <<<"$out"; then
    echo "$status, verified"
  else
    echo "WRONG: $(tr '\n' ' ' <<<"$out")"
  fi
}
samples_ok() { [[ $1 == *", verified" && $2 == *", verified" ]]; }

fixed_port=$(free_port)
bench_spawn "$build/bench/http_fixed" "$fixed_port" "$work/expected.der" 2
bench_wait_http "$fixed_port"
nginx_port=$(free_port)
bench_nginx "$work/expected.der" "$nginx_port" 2

# --- 1, 2: pre-signed GET and POST over keep-alive connections
keep_alive() {  # LABEL PATH (BODY in the environment for POST)
  local label=$1 path=$2 c f b n r
  for c in $counts; do
    read -r -a f <<<"$(EXPECTED="$work/expected.der" bench_wrk "http://127.0.0.1:$port$path" "$c" "$seconds")"
    read -r -a b <<<"$(EXPECTED="$work/expected.der" bench_wrk "http://127.0.0.1:$fixed_port$path" "$c" "$seconds")"
    read -r -a n <<<"$(EXPECTED="$work/expected.der" bench_wrk "http://127.0.0.1:$nginx_port$path" "$c" "$seconds")"
    check "$label keep-alive $c conns, answers right/wrong/socket errors: facility-ca ${f[0]}/${f[1]}/${f[2]}, http_fixed ${b[0]}/${b[1]}/${b[2]}, nginx ${n[0]}/${n[1]}/${n[2]}"
    r=$(ratio "${f[3]}" "${n[3]}")
    good() { at_least "$r" 0.6 && at_least 10 "${f[5]}" && [ "${f[1]}" = 0 ] && [ "${f[2]}" = 0 ] && [ "${f[0]}" -gt 0 ]; }
    row "pre-signed $label, keep-alive, $c conns" "$(rate "${f[3]}")/s, p99 ${f[5]} ms, ${f[1]} wrong, ${f[2]} errors" \
      "nginx $(rate "${n[3]}")/s (p99 ${n[5]} ms); http_fixed $(rate "${b[3]}")/s ($(ratio "${b[3]}" "${n[3]}") × nginx)" \
      "$r" "≥ 0.6 × nginx, p99 ≤ 10 ms, 0 errors" "$(verdict good)"
    if [ "$label" = POST ] && [ "$c" = 32 ]; then presigned_post_32=${f[3]}; fi
  done
}
presigned_post_32=0
keep_alive GET "$get_path"
BODY="$work/request.der" keep_alive POST /ocsp
sample_good=$(sample "http://127.0.0.1:$port/ocsp" "$work/leaf.pem" good -no_nonce)
sample_revoked=$(sample "http://127.0.0.1:$port/ocsp" "$work/gone.pem" revoked -no_nonce)
check "pre-signed samples after the load (openssl ocsp): leaf $sample_good; revoked leaf $sample_revoked"
row "pre-signed samples after the load (openssl ocsp)" "leaf: $sample_good; revoked leaf: $sample_revoked" "" "" \
  "good / revoked, verified" "$(verdict samples_ok "$sample_good" "$sample_revoked")"

# --- 3: one request per connection, against nginx and `openssl ocsp -index` (one process, one
# request at a time). openssl ocsp binds every interface, so it runs in a network namespace of its
# own that has nothing but loopback (`unshare -n`), with its load generator next to it.
serial_hex=$(openssl x509 -in "$work/leaf.pem" -noout -serial | cut -d= -f2)
gone_hex=$(openssl x509 -in "$work/gone.pem" -noout -serial | cut -d= -f2)
index_date() { date -u -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ; }
{
  printf 'V\t%s\t\t%s\tunknown\t/CN=leaf.example.com\n' "$(index_date "$work/leaf.pem")" "$serial_hex"
  printf 'R\t%s\t%s,keyCompromise\t%s\tunknown\t/CN=gone.example.com\n' "$(index_date "$work/gone.pem")" \
    "$(date -u +%y%m%d%H%M%SZ)" "$gone_hex"
} >"$work/index.txt"
# openssl ocsp signs each answer with the issuing CA's own key, decrypted into the scratch directory.
issuing_key=$(sqlite3 "$dir/ca.db" "SELECT key_uri FROM cas WHERE name = 'issuing'" 2>/dev/null | sed 's|^file:||')
[ -n "$issuing_key" ] && [ "${issuing_key#/}" = "$issuing_key" ] && issuing_key="$dir/keys/$issuing_key"
if [ -n "$issuing_key" ] && openssl pkey -in "$issuing_key" -passin "file:$dir/secrets/key-passphrase" \
  -out "$work/issuing.key" 2>/dev/null; then :; else issuing_key=""; fi
# The sample is asked before the load: after a wrk run `openssl ocsp` may be left spinning on a
# connection wrk closed unused.
openssl_ocsp_in_private_net() {  # SECONDS CONNECTIONS PATH: "ok bad errors rate p50 p99" then a sample line
  local script
  # shellcheck disable=SC2016
  script='set -e; ip link set lo up; source bench/lib.sh; port=$(free_port)
    openssl ocsp -index "$W/index.txt" -port "$port" -rsigner "$W/issuing.pem" -rkey "$W/issuing.key" \
      -CA "$W/issuing.pem" -ignore_err >/dev/null 2>&1 & responder=$!
    trap "kill $responder 2>/dev/null || true" EXIT
    bench_wait_http "$port"
    out=$(timeout 10 openssl ocsp -issuer "$W/issuing.pem" -cert "$W/leaf.pem" -url "http://127.0.0.1:$port/" -CAfile "$W/chain.pem" 2>&1)
    CLOSE=1 bench_wrk "http://127.0.0.1:$port$3" "$2" "$1"
    grep -q "Response verify OK" <<<"$out" && grep -q ": good" <<<"$out" && echo "good, verified" || echo "WRONG: $out"'
  W=$work timeout $(($1 + 30)) unshare -n bash -c "$script" _ "$@"
}
close_rows() {  # LABEL PATH OPENSSL_PATH (BODY in the environment for POST)
  local label=$1 path=$2 openssl_path=$3 f n o out sample_line
  read -r -a f <<<"$(CLOSE=1 EXPECTED="$work/expected.der" bench_wrk "http://127.0.0.1:$port$path" 4 "$seconds")"
  read -r -a n <<<"$(CLOSE=1 EXPECTED="$work/expected.der" bench_wrk "http://127.0.0.1:$nginx_port$path" 4 "$seconds")"
  local nginx_ratio
  nginx_ratio=$(ratio "${f[3]}" "${n[3]}")
  if [ -z "$issuing_key" ]; then
    o=(0 0 0 0 0 0)
    sample_line="not run: the issuing CA's key could not be read for openssl ocsp"
  elif ! out=$(openssl_ocsp_in_private_net "$seconds" 4 "$openssl_path" 2>&1); then
    o=(0 0 0 0 0 0)
    sample_line="not run: no private network namespace (unshare -n) for openssl ocsp, which binds every interface: $(tail -1 <<<"$out")"
  else
    read -r -a o <<<"$(head -1 <<<"$out")"
    sample_line=$(tail -1 <<<"$out")
  fi
  check "$label one request per connection (4 clients), answers right/wrong/socket errors: facility-ca ${f[0]}/${f[1]}/${f[2]}, nginx ${n[0]}/${n[1]}/${n[2]}, openssl ocsp ${o[0]}/${o[1]}/${o[2]} (sample: $sample_line)"
  local openssl_ratio
  openssl_ratio=$(ratio "${f[3]}" "${o[3]}")
  good() {
    at_least "$nginx_ratio" 0.75 && at_least "$openssl_ratio" 1.5 && [ "${f[1]}" = 0 ] && [ "${f[2]}" = 0 ] &&
      [ "${o[1]}" = 0 ] && [[ $sample_line == "good, verified" ]]
  }
  row "pre-signed $label, new connection each, 4 clients" "$(rate "${f[3]}")/s, p99 ${f[5]} ms, ${f[1]} wrong, ${f[2]} errors" \
    "nginx $(rate "${n[3]}")/s; openssl ocsp $(rate "${o[3]}")/s (${o[1]} wrong; sample $sample_line)" \
    "$nginx_ratio / $openssl_ratio" "≥ 0.75 × nginx, ≥ 1.5 × openssl ocsp" "$(verdict good)"
}
# openssl ocsp answers at its root: GET /{base64}, POST /.
close_rows GET "$get_path" "/${get_path#/ocsp/}"
BODY="$work/request.der" close_rows POST /ocsp /

# --- 4: POST with a nonce, signed per request (P-256 delegated responder), 32 connections
tail -c 16 "$work/nonce-request.der" | od -An -tx1 | tr -d ' \n' >"$work/nonce.hex"
if ! openssl ocsp -reqin "$work/nonce-request.der" -req_text 2>/dev/null | tr -d ' :\n' | grep -qi "$(cat "$work/nonce.hex")"; then
  echo "bench: the nonce is not the last 16 bytes of the request" >&2
  exit 1
fi
read -r -a s <<<"$(BODY="$work/nonce-request.der" NONCE=1 bench_wrk "http://127.0.0.1:$port/ocsp" 32 "$seconds")"
sample_nonce=$(sample "http://127.0.0.1:$port/ocsp" "$work/leaf.pem" good)
nonce_echoed() { openssl ocsp -issuer "$work/issuing.pem" -cert "$work/leaf.pem" -url "http://127.0.0.1:$port/ocsp" \
  -CAfile "$work/chain.pem" -resp_text 2>&1 | grep -q "OCSP Nonce"; }
nonce_echoed || sample_nonce="WRONG: no nonce in the answer"
check "POST with nonce, 32 conns, answers successful+nonce echoed/other/socket errors: ${s[0]}/${s[1]}/${s[2]}; sample: $sample_nonce"
r=$(ratio "${s[3]}" "$presigned_post_32")
good() { at_least "$r" 0.5 && [ "${s[1]}" = 0 ] && [ "${s[2]}" = 0 ] && [ "${s[0]}" -gt 0 ] && [[ $sample_nonce == "good, verified" ]]; }
row "POST with nonce (signed each), keep-alive, 32 conns" "$(rate "${s[3]}")/s, p99 ${s[5]} ms, ${s[1]} wrong, ${s[2]} errors; sample $sample_nonce" \
  "pre-signed POST, 32 conns: $(rate "$presigned_post_32")/s" "$r" "≥ 0.5 × pre-signed" "$(verdict good)"
bench_stop "$server"

# --- 5, 6: issuance. bench/api_issue_bench.sh runs in-process (1 and 8 threads, P-256, durable)
# and the REST API; bench/est_bench.sh runs EST enrolments. Their checks are read from their output.
api_out=$(bash bench/api_issue_bench.sh "$build" "$issue_seconds" 8 2>&1) || true
inprocess_8=$(sed -n 's/^| in-process CertificateAuthority::issue, 8 threads | \([0-9.]*\) .*/\1/p' <<<"$api_out")
inprocess_1=$(sed -n 's/^| in-process CertificateAuthority::issue, 1 thread | \([0-9.]*\) .*/\1/p' <<<"$api_out")
inprocess_checks=$(sed -n 's/^in-process check: //p' <<<"$api_out" | tail -1)
inprocess_good() {
  at_least "${inprocess_8:-0}" 3000 && [[ $inprocess_checks == *"errors 0 "* && $inprocess_checks == *"distinct yes"* && $inprocess_checks == *"rows match"* &&
    $inprocess_checks == *"audit intact"* ]]
}
check "in-process P-256, 8 threads: ${inprocess_checks:-no output: $(tail -3 <<<"$api_out" | tr '\n' ' ')}"
row "in-process issuance, P-256 CA, durable, 8 threads" "${inprocess_8:-0}/s ($inprocess_checks)" "1 thread: ${inprocess_1:-0}/s" \
  "$(ratio "${inprocess_8:-0}" "${inprocess_1:-0}")" "≥ 3,000/s" "$(verdict inprocess_good)"

IFS='|' read -r -a api <<<"$(grep '^| POST /api/v1/certificates' <<<"$api_out" || true)" || true
api_rate=$(tr -d ' ' <<<"${api[2]:-0}")
api_wrong=$(tr -d ' ' <<<"${api[5]:-unknown}")
api_counts=$(grep '^API:' <<<"$api_out" || echo "API: no output")
api_socket_errors=$(grep -c 'Socket errors' <<<"$api_counts" || true)
check "REST API issuance: $api_wrong answers not the certificate; $api_counts"
api_good() { [ "$api_wrong" = 0 ] && [ "$api_socket_errors" = 0 ] && at_least "$api_rate" 1500; }
row "REST API issuance, TLS keep-alive, 8 conns" "$api_rate/s, p99 $(tr -d ' ' <<<"${api[4]:-}"), $api_wrong wrong" \
  "in-process 8 threads: ${inprocess_8:-0}/s" "$(ratio "$api_rate" "${inprocess_8:-0}")" "≥ 1,500/s" "$(verdict api_good)"

est_out=$(bash bench/est_bench.sh "$build" "$est_count" 16 2>&1) || true
est_line=$(grep '^enrolments' <<<"$est_out" || echo "enrolments 0 errors unknown")
est_rate=$(sed -n 's/.*rate \([0-9.]*\)\/s.*/\1/p' <<<"$est_line")
est_errors=$(awk '{ print $4 }' <<<"$est_line")
est_speed=$(sed -n 's/^openssl speed ecdsap256: \([0-9.]*\) .*/\1/p' <<<"$est_out")
est_rows=$(sed -n 's/^certificate rows added: //p' <<<"$est_out")
check "EST: $est_line; certificate rows added: ${est_rows:-unknown}"
est_good() { [ "$est_errors" = 0 ] && [ "$est_rows" = "$est_count" ] && at_least "${est_rate:-0}" 500; }
row "EST simpleenroll, new TLS connection each, 16 clients" "${est_rate:-0}/s, $est_errors errors, ${est_rows:-?} rows for $est_count" \
  "openssl speed ecdsap256 ${est_speed:-?} sign/s" "$(ratio "${est_rate:-0}" "${est_speed:-0}" 4)" "≥ 500/s" "$(verdict est_good)"

"$ca" init --dir "$work/rsa" --key-type rsa2048 >/dev/null 2>&1
rsa_out=$("$build/bench/issue_inprocess" "$work/rsa" "$issue_seconds" 8 2>&1) || true
rsa_rate=$(sed -n 's/.*rate \([0-9.]*\)\/s.*/\1/p' <<<"$rsa_out")
rsa_speed=$(openssl speed -seconds "$issue_seconds" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ { print $(NF-1) }')
check "in-process RSA-2048, 8 threads: $(tail -1 <<<"$rsa_out")"
r=$(ratio "${rsa_rate:-0}" "${rsa_speed:-0}")
rsa_good() { [[ $rsa_out == *"errors 0 "*"distinct yes  rows match  audit intact"* ]] && at_least "$r" 0.5; }
row "in-process issuance, RSA-2048 CA, durable, 8 threads" "${rsa_rate:-0}/s" "openssl speed rsa2048 ${rsa_speed:-?} sign/s (one core)" \
  "$r" "≥ 0.5 × openssl speed" "$(verdict rsa_good)"

# --- CRL building: bench/crl_bench (signed CRLs from synthetic entries, in-process, not from the
# database): the full CRL of the 10^6-certificate target holds its 10^5 revoked entries.
crl_out=$("$build/bench/crl_bench" 100000 2>&1) || true
crl_ms=$(awk '$1 == 100000 { print $2 }' <<<"$crl_out")
crl_good() { [ -n "$crl_ms" ] && at_least 10000 "$crl_ms"; }
check "CRL build: $(awk '$1 == 100000 { printf "%d entries, %s ms, %d bytes", $1, $2, $4 }' <<<"$crl_out")"
row "full CRL of 10^5 entries built and signed (crl_bench, synthetic entries)" "${crl_ms:-?} ms" "" "" "≤ 10,000 ms" \
  "$(verdict crl_good)"

# A database with 10^5 revoked rows and their full CRL, then one revocation (Database::update_status and
# the delta the revoking process makes, as a CLI revoke does, in-process): the delta lists exactly the
# revoked certificate and names the base's number.
delta_out=$("$build/bench/crl_bench" --delta 100000 2>&1) || true
delta_ms=$(awk '$1 == "delta_after_one_revocation_ms" { print $2 }' <<<"$delta_out")
revoke_ms=$(awk '$1 == "revocation_call_ms" { print $2 }' <<<"$delta_out")
delta_content=$(awk '$1 == "delta_content" { print $2 }' <<<"$delta_out")
check "delta CRL: $(tr '\n' ' ' <<<"$delta_out")"
delta_good() { [ "$delta_content" = ok ] && [ -n "$delta_ms" ] && at_least 50 "$delta_ms"; }
row "delta CRL after one revocation, 10^5 revoked (crl_bench --delta, content checked)" "${delta_ms:-?} ms; content ${delta_content:-?}" \
  "revocation call with its delta: ${revoke_ms:-?} ms" "" "≤ 50 ms" "$(verdict delta_good)"

# --- 7: memory. 10^4 certificates issued in-process, then `serve` started and left idle.
mem_port=$(free_port)
bench_instance "$ca" "$work/mem" "$mem_port"
mem_out=$("$build/bench/issue_inprocess" "$work/mem" 60 8 nmos-node 10000 2>&1) || true
mem_certs=$(sqlite3 "$work/mem/ca.db" 'SELECT count(*) FROM certificates')
check "memory instance: $(tail -1 <<<"$mem_out"); $mem_certs certificate rows"
bench_spawn "$ca" serve --dir "$work/mem" >/dev/null 2>>"$work/serve.err"
mem_server=$bench_pid
bench_wait_http "$mem_port"
rss_start=$(bench_rss_kb "$mem_server")
sleep "$idle_seconds"
rss_idle=$(bench_rss_kb "$mem_server")
idle_good() { [ "$mem_certs" -ge 10000 ] && [ "$rss_idle" -le $((40 * 1024)) ]; }
row "idle RSS of serve, $mem_certs certificates" "$(mb "$rss_idle") after ${idle_seconds} s idle ($(mb "$rss_start") when ready)" "" "" \
  "≤ 40 MB with 10^4" "$(verdict idle_good)"

if ((quick)); then
  row "RSS after a 5-minute load vs after warm-up" "not measured (full run only)" "" "" "within 10 %" "-"
else
  # Warm-up and then five minutes of load: pre-signed GETs (32 connections) and nonce POSTs (8)
  # side by side, every answer checked.
  mem_leaf_request="$work/mem-request.der"
  bench_leaf "$ca" "$work/mem" memleaf
  "$ca" ca show issuing --dir "$work/mem" >"$work/mem-issuing.pem"
  openssl ocsp -issuer "$work/mem-issuing.pem" -cert "$work/memleaf.pem" -no_nonce -reqout "$mem_leaf_request" >/dev/null
  openssl ocsp -issuer "$work/mem-issuing.pem" -cert "$work/memleaf.pem" -reqout "$work/mem-nonce.der" >/dev/null
  mem_path=$(bench_get_path "$mem_leaf_request")
  curl -s -o "$work/mem-expected.der" "http://127.0.0.1:$mem_port$mem_path"
  mixed_load() {  # SECONDS: "get: ok bad errors ... | nonce: ok bad errors ..."
    local nonce_out="$work/mixed-nonce.$1"
    BODY="$work/mem-nonce.der" NONCE=1 bench_wrk "http://127.0.0.1:$mem_port/ocsp" 8 "$1" 1 >"$nonce_out" &
    local nonce_pid=$!
    local get_result
    get_result=$(EXPECTED="$work/mem-expected.der" bench_wrk "http://127.0.0.1:$mem_port$mem_path" 32 "$1" 1)
    wait "$nonce_pid" || true
    echo "$get_result | $(cat "$nonce_out")"
  }
  warm_seconds=20 long_seconds=300
  warm=$(mixed_load "$warm_seconds")
  rss_warm=$(bench_rss_kb "$mem_server")
  long=$(mixed_load "$long_seconds")
  rss_long=$(bench_rss_kb "$mem_server")
  check "mixed load (GET pre-signed 32 conns | POST nonce 8 conns; right wrong errors rate p50 p99): warm-up $warm_seconds s: $warm; $long_seconds s: $long"
  long_clean() { awk -F'|' '{ split($1, g, " "); split($2, n, " "); exit !(g[1] > 0 && g[2] == 0 && g[3] == 0 && n[1] > 0 && n[2] == 0 && n[3] == 0) }' <<<"$long"; }
  r=$(ratio "$rss_long" "$rss_warm")
  steady_good() { at_least 1.10 "$r" && at_least "$r" 0.90 && long_clean; }
  row "RSS after a 5-minute load vs after warm-up" "$(mb "$rss_long") after $long_seconds s ($(mb "$rss_warm") after a $warm_seconds s warm-up)" \
    "" "$r" "within 10 %, 0 errors" "$(verdict steady_good)"
fi
bench_stop "$mem_server"

# --- 8: 10^6 certificates, 10^5 revoked (bench/scale.sh): seeded, not issued, to fit the budget.
if ((quick)); then
  row "10^6 certificates, 10^5 revoked: start-up, uncached p99, revoke, CRL while serving, delta CRL, RSS" \
    "not measured (full run only)" "" "" "≤ 2 s, ≤ 5 ms, ≤ 100 ms, ≤ 10 s / p99 ≤ 10 ms, ≤ 50 ms, ≤ 400 MB" "-"
else
  bench_scale "$ca" "$build" "$work" 1000000 "$idle_seconds"
fi

if [ -s "$work/serve.err" ]; then
  check "serve warnings/errors during the run: $(wc -l <"$work/serve.err") lines, first: $(head -3 "$work/serve.err" | tr '\n' ' ')"
fi

echo
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(uname -sr)"
echo "run: bench/run.sh$( ((quick)) && echo ' --quick') $build, started $started_at, took $(($(date +%s) - started)) s;" \
  "load average $load_start at the start, $(bench_load) at the end"
echo "load: wrk -t$wrk_threads -d${seconds}s --timeout 2s, bench/ocsp_check.lua checking every answer; nginx-light 2 workers; http_fixed 2 I/O threads"
echo
echo "checks:"
printf '  %s\n' "${checks[@]}"
echo
echo "| scenario | figure | baseline (same run) | ratio | target | result |"
echo "|---|---|---|---:|---|---|"
printf '%s\n' "${rows[@]}"
