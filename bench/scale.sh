#!/usr/bin/env bash
# Issue 16's 10^6-certificate rows: a throw-away P-256 instance seeded by bench/seed_certificates with
# 10^6 genuinely signed certificates, every tenth revoked (10^5), its CRL current; then `serve` on
# 127.0.0.1: start-up to the first good OCSP answer, idle RSS, uncached lookups (wrk, 4 connections,
# each request for a different seeded certificate, every answer checked for its certificate and
# status by bench/ocsp_status_check.lua, shown to catch a wrong expectation first), CLI revokes and
# the very next OCSP answer, the full CRL rebuilt from the database while wrk measures OCSP, and the
# delta CRL when the build serves one. docs/performance.md says what each row measures.
#
# Sourced by bench/run.sh (full run), which calls bench_scale; or run alone:
#   bench/scale.sh [BUILD_DIR] [COUNT]       (COUNT default 1000000; the targets are for 10^6)
#   PROFILE=DIR bench/scale.sh ...           adds perf profiles: DIR/serve-uncached.perf (serve during the
#                                            uncached cell) and DIR/revoke.perf (one more CLI revoke)
# shellcheck disable=SC2317

# The rows; run.sh's helpers (row, check, verdict, ...) and lib.sh are in scope.
bench_scale() {  # CA_BINARY BUILD_DIR WORK_DIR COUNT IDLE_SECONDS
  local ca=$1 build=$2 work=$3 count=$4 idle_seconds=$5
  local dir="$work/scale" out="$work/scale-out" port
  port=$(free_port)
  mkdir -p "$out"
  bench_instance "$ca" "$dir" "$port"
  "$ca" ca show issuing --dir "$dir" >"$out/issuing.pem"
  "$ca" ca show root --dir "$dir" >"$out/root.pem"
  cat "$out/root.pem" "$out/issuing.pem" >"$out/chain.pem"
  local revoked_expected=$((count / 10))

  # --- seeding
  local seed_out seed_seconds
  local t0=$EPOCHREALTIME
  seed_out=$("$build/bench/seed_certificates" seed "$dir" "$count" 10 150000 "$out" 2>&1) ||
    { check "scale: seeding failed: $(tail -3 <<<"$seed_out" | tr '\n' ' ')"; scale_not_measured "seeding failed"; return; }
  seed_seconds=$(elapsed_since "$t0")
  local seeded_rows revoked_rows
  seeded_rows=$(sqlite3 "$dir/ca.db" "SELECT count(*) FROM certificates WHERE requester = 'bench:seed'")
  revoked_rows=$(sqlite3 "$dir/ca.db" "SELECT count(*) FROM certificates WHERE status = 'revoked'")
  local seeded_line crl_seed_ms
  seeded_line=$(grep '^seeded' <<<"$seed_out")
  crl_seed_ms=$(sed -n 's/^seed: CRL .* in \([0-9]*\) ms.*/\1/p' <<<"$seed_out")
  check "scale: $seeded_line; $(grep '^seed: CRL' <<<"$seed_out"); rows by the seeder $seeded_rows (1 issued template + $count), revoked $revoked_rows; whole seeding step ${seed_seconds} s"
  seed_good() { [ "$seeded_rows" = $((count + 1)) ] && [ "$revoked_rows" = "$revoked_expected" ] && at_least 90 "$seed_seconds"; }
  row "10^6 rows: seeding $count signed certificates, $revoked_rows revoked (bench/seed_certificates)" \
    "${seed_seconds} s (${seeded_line#seeded })" "" "" "≤ 90 s, rows and revocations as asked" "$(verdict seed_good)"

  # Samples (150,000 at 10^6): the first 60 % for uncached lookups, the next 35 % for the load
  # during the CRL build, the last 5 % for the checker's negative control; spares for revocations.
  local samples
  samples=$(wc -l <"$out/samples.txt")
  sed -n "1,$((samples * 60 / 100))p" "$out/samples.txt" >"$out/uncached.txt"
  sed -n "$((samples * 60 / 100 + 1)),$((samples * 95 / 100))p" "$out/samples.txt" >"$out/during-crl.txt"
  sed -n "$((samples * 95 / 100 + 1)),\$p" "$out/samples.txt" |
    awk '{ $1 = ($1 == "good") ? "revoked" : "good"; print }' >"$out/flipped.txt"
  mapfile -t spares <"$out/spare.txt"
  local probe_serial probe_path
  read -r probe_serial probe_path <<<"${spares[0]}"

  # --- start-up to the first good OCSP answer (polled every 10 ms), then RSS
  local server started ready_ms
  t0=$EPOCHREALTIME
  bench_spawn "$ca" serve --dir "$dir" >/dev/null 2>>"$work/serve.err"
  server=$bench_pid
  ready_ms=""
  local _
  for _ in $(seq 1000); do
    if curl -s -f -o "$out/probe.der" --max-time 1 "http://127.0.0.1:$port$probe_path" 2>/dev/null && [ -s "$out/probe.der" ]; then
      ready_ms=$(awk -v s="$(elapsed_since "$t0")" 'BEGIN { printf "%.0f", s * 1000 }')
      break
    fi
    kill -0 "$server" 2>/dev/null || break
    sleep 0.01
  done
  local probe_status
  probe_status=$(ocsp_respin_status "$out/probe.der" "$probe_serial" "$out")
  check "scale: serve ready after ${ready_ms:-never} ms; first answer: $probe_status"
  startup_good() { [ -n "$ready_ms" ] && at_least 2000 "$ready_ms" && [ "$probe_status" = "good, verified" ]; }
  row "10^6: start-up of serve to the first good OCSP answer" "${ready_ms:-no answer} ms (answer $probe_status)" "" "" "≤ 2 s" \
    "$(verdict startup_good)"
  if [ -z "$ready_ms" ]; then
    bench_stop "$server"
    scale_not_measured "serve did not answer"
    return
  fi
  local rss_ready rss_idle
  rss_ready=$(bench_rss_kb "$server")
  sleep "$idle_seconds"
  rss_idle=$(bench_rss_kb "$server")
  scale_rss_good() { [ "$rss_idle" -le $((400 * 1024)) ]; }
  row "10^6: idle RSS of serve" "$(mb "$rss_idle") after ${idle_seconds} s idle ($(mb "$rss_ready") when ready)" "" "" "≤ 400 MB" \
    "$(verdict scale_rss_good)"

  # --- the checker catches wrong answers: every status flipped, so no answer may count
  # shellcheck disable=SC2034  # filled by scale_wrk, its status counts unused here
  local -a control control_status
  scale_wrk "$out/flipped.txt" "http://127.0.0.1:$port" 1 control control_status
  check "scale: negative control ($(wc -l <"$out/flipped.txt") samples with the expected status flipped, 1 s): right/wrong/errors ${control[0]}/${control[1]}/${control[2]}"
  control_good() { [ "${control[0]}" = 0 ] && [ "${control[1]}" -gt 0 ]; }

  # --- uncached lookups, 4 connections, each certificate asked once
  local -a uncached uncached_status
  if [ -n "${PROFILE:-}" ]; then
    perf record -g -p "$server" -o "$PROFILE/serve-uncached.perf" -- sleep "$SCALE_SECONDS" >/dev/null 2>&1 &
  fi
  scale_wrk "$out/uncached.txt" "http://127.0.0.1:$port" "$SCALE_SECONDS" uncached uncached_status
  check "scale: uncached lookups, 4 conns, ${SCALE_SECONDS} s: right/wrong/errors ${uncached[0]}/${uncached[1]}/${uncached[2]}; right good/revoked ${uncached_status[0]}/${uncached_status[1]}; distinct certificates asked ${uncached_status[3]}, repeats ${uncached_status[2]}"
  uncached_good() {
    control_good && at_least 5 "${uncached[5]}" && [ "${uncached[1]}" = 0 ] && [ "${uncached[2]}" = 0 ] &&
      [ "${uncached_status[2]}" = 0 ] && [ "${uncached_status[0]}" -gt 0 ] && [ "${uncached_status[1]}" -gt 0 ]
  }
  row "10^6: uncached OCSP GET, a different certificate each, 4 conns" \
    "$(rate "${uncached[3]}")/s, p50 ${uncached[4]} ms, p99 ${uncached[5]} ms, ${uncached[1]} wrong, ${uncached[2]} errors (${uncached_status[0]} good + ${uncached_status[1]} revoked, ${uncached_status[2]} repeats); negative control: ${control[1]} of $((control[0] + control[1])) caught" \
    "" "" "p99 ≤ 5 ms, 0 wrong, 0 errors" "$(verdict uncached_good)"

  # --- CLI revokes: each returns, and the very next answer says revoked (asked good before)
  local k serial before after ms revoke_times=() revoke_wrong=0 revoke_max=0 cli_revokes=0
  for k in 1 2 3; do
    read -r serial _ <<<"${spares[k]}"
    before=$(scale_ocsp "$serial" "$port" "$out")
    t0=$EPOCHREALTIME
    "$ca" revoke --dir "$dir" "$serial" --reason keyCompromise >/dev/null 2>>"$work/serve.err" || revoke_wrong=$((revoke_wrong + 1))
    cli_revokes=$((cli_revokes + 1))
    ms=$(awk -v s="$(elapsed_since "$t0")" 'BEGIN { printf "%.0f", s * 1000 }')
    after=$(scale_ocsp "$serial" "$port" "$out")
    [ "$before" = "good, verified" ] && [ "$after" = "revoked, verified" ] || revoke_wrong=$((revoke_wrong + 1))
    revoke_times+=("$ms")
    ((ms > revoke_max)) && revoke_max=$ms
    check "scale: revoke $serial: ${ms} ms; answer before: $before; next answer: $after"
  done
  if [ -n "${PROFILE:-}" ]; then  # one more revoke under perf, not counted: where its time goes
    read -r serial _ <<<"${spares[5]}"
    perf record --call-graph dwarf -o "$PROFILE/revoke.perf" -- "$ca" revoke --dir "$dir" "$serial" --reason keyCompromise >/dev/null 2>&1 &&
      cli_revokes=$((cli_revokes + 1))
  fi
  revoke_good() { [ "$revoke_wrong" = 0 ] && at_least 100 "$revoke_max"; }
  row "10^6: CLI revoke, then the next OCSP answer (3 times)" \
    "$(IFS=/; echo "${revoke_times[*]}") ms; next answer revoked and verified: $((3 - revoke_wrong)) of 3" "" "" \
    "≤ 100 ms, next answer revoked" "$(verdict revoke_good)"

  # --- the full CRL rebuilt from the database (CrlService::regenerate, what serve's rebuild thread
  # runs after a change) in a second process, while wrk asks for uncached answers; wrk is stopped
  # when it ends.
  local wrk_out="$out/during-crl.wrk"
  THREADS=2 SAMPLES="$out/during-crl.txt" wrk -t2 -c4 -d120s --timeout 2s -s bench/ocsp_status_check.lua \
    "http://127.0.0.1:$port" >"$wrk_out" 2>&1 &
  local wrk_pid=$!
  sleep 1
  local crl_out crl_ms
  crl_out=$("$build/bench/seed_certificates" crl "$dir" 2>&1) || true
  [ -n "$crl_out" ] || crl_out="seed_certificates crl printed nothing"
  crl_ms=$(sed -n 's/^crl: CRL .* in \([0-9]*\) ms.*/\1/p' <<<"$crl_out")
  kill -INT "$wrk_pid" 2>/dev/null || true
  wait "$wrk_pid" 2>/dev/null || true
  local -a during during_status
  read -r -a during <<<"$(awk '/^RESULT/ { print $2, $3, $4, $5, $6, $7; found = 1 } END { if (!found) print "0 0 1 0 0 0" }' "$wrk_out")"
  read -r -a during_status <<<"$(awk '/^STATUS/ { print $2, $3, $4, $5; found = 1 } END { if (!found) print "0 0 0 0" }' "$wrk_out")"
  # The served CRL: signed by the CA, and it lists every revoked seeded certificate and the CLI's.
  local crl_entries crl_verified
  curl -s -o "$out/issuing.crl" "http://127.0.0.1:$port/crl/issuing.crl"
  crl_verified=$(openssl crl -inform DER -in "$out/issuing.crl" -CAfile "$out/chain.pem" -noout 2>&1 | tr '\n' ' ')
  crl_entries=$(openssl crl -inform DER -in "$out/issuing.crl" -noout -text 2>/dev/null | grep -c 'Serial Number:' || true)
  check "scale: $crl_out; OCSP during it (uncached, 4 conns): right/wrong/errors ${during[0]}/${during[1]}/${during[2]}, p99 ${during[5]} ms, repeats ${during_status[2]}; served CRL: $crl_entries entries, $crl_verified"
  crl_scale_good() {
    [ -n "$crl_ms" ] && at_least 10000 "$crl_ms" && at_least 10 "${during[5]}" && [ "${during[1]}" = 0 ] &&
      [ "${during[2]}" = 0 ] && [ "${during[0]}" -gt 0 ] && [ "$crl_entries" = $((revoked_expected + cli_revokes)) ] &&
      [[ $crl_verified == *"verify OK"* ]]
  }
  row "10^6: full CRL rebuilt from the database ($((revoked_expected + cli_revokes)) entries), OCSP under load meanwhile" \
    "${crl_ms:-?} ms (after seeding, alone: ${crl_seed_ms:-?} ms); OCSP $(rate "${during[3]}")/s, p99 ${during[5]} ms, ${during[1]} wrong, ${during[2]} errors, ${during_status[2]} repeats; served CRL $crl_entries entries, verified" \
    "" "" "≤ 10 s, OCSP p99 ≤ 10 ms" "$(verdict crl_scale_good)"

  # --- delta CRL: measured only when the build serves one
  local delta_code
  delta_code=$(curl -s -o "$out/delta.crl" -w '%{http_code}' "http://127.0.0.1:$port/crl/issuing-delta.crl")
  if [ "$delta_code" != 200 ]; then
    row "10^6: delta CRL after one revocation" "not measured (no delta CRLs in this build: /crl/issuing-delta.crl answers $delta_code)" \
      "" "" "≤ 50 ms" "-"
  else
    read -r serial _ <<<"${spares[4]}"
    "$ca" revoke --dir "$dir" "$serial" --reason keyCompromise >/dev/null 2>>"$work/serve.err"
    t0=$EPOCHREALTIME
    local delta_ms=""
    for _ in $(seq 500); do
      curl -s -o "$out/delta.crl" "http://127.0.0.1:$port/crl/issuing-delta.crl"
      if openssl crl -inform DER -in "$out/delta.crl" -noout -text 2>/dev/null | tr -d ' :' | grep -qi "SerialNumber$serial\$"; then
        delta_ms=$(awk -v s="$(elapsed_since "$t0")" 'BEGIN { printf "%.0f", s * 1000 }')
        break
      fi
      sleep 0.01
    done
    delta_good() { [ -n "$delta_ms" ] && at_least 50 "$delta_ms"; }
    row "10^6: delta CRL after one revocation" "${delta_ms:-not within 5 s} ms from the revoke's return to a served delta CRL listing it" \
      "" "" "≤ 50 ms" "$(verdict delta_good)"
  fi
  bench_stop "$server"
}

scale_not_measured() {  # REASON
  row "10^6 rows (start-up, uncached p99, revoke, CRL while serving, delta CRL, RSS)" "not measured: $1" "" "" \
    "≤ 2 s, ≤ 5 ms, ≤ 100 ms, ≤ 10 s / p99 ≤ 10 ms, ≤ 50 ms, ≤ 400 MB" "FAIL"
}

elapsed_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

# wrk with bench/ocsp_status_check.lua, 2 threads and 4 connections; fills the arrays named
# RESULT_VAR ("ok bad errors rate p50 p99") and STATUS_VAR ("good revoked repeats asked").
scale_wrk() {  # SAMPLES BASE_URL SECONDS RESULT_VAR STATUS_VAR
  local output
  output=$(THREADS=2 SAMPLES="$1" wrk -t2 -c4 -d"${3}s" --timeout 2s -s bench/ocsp_status_check.lua "$2" 2>&1) || true
  read -r -a "$4" <<<"$(awk '/^RESULT/ { print $2, $3, $4, $5, $6, $7; found = 1 } END { if (!found) print "0 0 1 0 0 0" }' <<<"$output")"
  read -r -a "$5" <<<"$(awk '/^STATUS/ { print $2, $3, $4, $5; found = 1 } END { if (!found) print "0 0 0 0" }' <<<"$output")"
}

# "good, verified" / "revoked, verified" for an answer file about SERIAL, else what went wrong.
ocsp_respin_status() {  # DER SERIAL OUT_DIR
  local text
  text=$(openssl ocsp -respin "$1" -issuer "$3/issuing.pem" -serial "0x$2" -CAfile "$3/chain.pem" -no_nonce 2>&1)
  if grep -q "Response verify OK" <<<"$text" && grep -q ": good" <<<"$text"; then echo "good, verified"
  elif grep -q "Response verify OK" <<<"$text" && grep -q ": revoked" <<<"$text"; then echo "revoked, verified"
  else echo "WRONG: $(tr '\n' ' ' <<<"$text" | cut -c1-200)"; fi
}

# openssl's own client asking serve for SERIAL (POST, no nonce); as ocsp_respin_status.
scale_ocsp() {  # SERIAL PORT OUT_DIR
  local text
  text=$(timeout 10 openssl ocsp -issuer "$3/issuing.pem" -serial "0x$1" -url "http://127.0.0.1:$2/ocsp" \
    -CAfile "$3/chain.pem" -no_nonce 2>&1)
  if grep -q "Response verify OK" <<<"$text" && grep -q ": good" <<<"$text"; then echo "good, verified"
  elif grep -q "Response verify OK" <<<"$text" && grep -q ": revoked" <<<"$text"; then echo "revoked, verified"
  else echo "WRONG: $(tr '\n' ' ' <<<"$text" | cut -c1-200)"; fi
}

SCALE_SECONDS=${SCALE_SECONDS:-5}

# Alone: the same rows in a table of their own.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  cd "$(dirname "$0")/.."
  build="${1:-build-rel}"
  count="${2:-1000000}"
  # shellcheck source=bench/lib.sh
  source bench/lib.sh
  rows=()
  row() { rows+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); }
  check() { echo "bench: $1" >&2; }
  at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }
  rate() { awk -v r="$1" 'BEGIN { printf "%.0f", r }'; }
  mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
  verdict() { if "$@"; then echo PASS; else echo FAIL; fi; }
  load_start=$(bench_load)
  started=$(date +%s)
  bench_tools
  bench_build "$build" facility-ca seed_certificates
  ca="$(cd "$build" && pwd)/app/facility-ca"
  bench_begin
  bench_scale "$ca" "$build" "$bench_work" "$count" 10
  [ -s "$bench_work/serve.err" ] && echo "bench: serve/CLI warnings: $(head -3 "$bench_work/serve.err" | tr '\n' ' ')" >&2
  echo
  echo "run: bench/scale.sh $build $count, took $(($(date +%s) - started)) s; load average $load_start at the start, $(bench_load) at the end"
  echo "| scenario | figure | baseline (same run) | ratio | target | result |"
  echo "|---|---|---|---:|---|---|"
  printf '%s\n' "${rows[@]}"
fi
