#!/usr/bin/env bash
# EST simpleenroll throughput: a fresh `init --lab` instance (P-256 CAs), `serve` on loopback, 16
# clients each opening a new TLS connection per enrolment with the lab device certificate. Prints
# the rate as a ratio to `openssl speed ecdsap256` signatures/s measured in the same run (each
# enrolment costs the server at least one P-256 signature for the certificate, plus the handshake),
# the certificate rows added against the enrolments counted, the client's CPU per enrolment, and the
# load average.
# Usage: bench/est_bench.sh BUILD_DIR [COUNT] [CONCURRENCY]
#   PROFILE=prefix: `perf record -g` of serve during the run (prefix.perf) and its fsync/fdatasync/
#   rename calls and context switches per enrolment (perf stat on tracepoints).
set -euo pipefail
build=${1:?usage: est_bench.sh BUILD_DIR [COUNT] [CONCURRENCY]}
count=${2:-2000}
concurrency=${3:-16}
ca="$build/app/facility-ca"
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
"$ca" --dir "$work/data" init --lab --key-type p256 >/dev/null 2>&1
port_http=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
port_https=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$work/data/config.json" "$port_http" "$port_https" "$concurrency" <<'PY'
import json, sys
path, plain, tls, clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
c = json.load(open(path))
c["serve"]["listeners"][0]["port"] = plain
c["serve"]["listeners"][1]["port"] = tls
c["urls"]["base"] = f"http://127.0.0.1:{plain}"
# One worker per client: an enrolment waits for its batch's fsync on a worker thread, so the pool
# size bounds how many enrolments share one group commit.
c["serve"]["threads"] = clients
json.dump(c, open(path, "w"), indent=2)
PY
: >"$work/serve.log"
"$ca" --dir "$work/data" serve >"$work/access.log" 2>"$work/serve.log" &
pid=$!
for _ in $(seq 100); do grep -q "listening on https://" "$work/serve.log" && break; sleep 0.1; done
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench.localhost \
  -addext subjectAltName=DNS:bench.localhost -keyout "$work/bench.key" -out "$work/bench.csr" 2>/dev/null
lab="$work/data/lab"
rows() { sqlite3 "$work/data/ca.db" 'SELECT count(*) FROM certificates'; }
before=$(rows)
profilers=()
if [ -n "${PROFILE:-}" ]; then
  perf record -q -F 199 ${PERF_CALL_GRAPH:--g} -p "$pid" -o "$PROFILE.perf" 2>/dev/null &
  profilers+=($!)
  perf stat -e syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync,syscalls:sys_enter_rename,context-switches,task-clock \
    -p "$pid" -o "$work/perf-stat" 2>/dev/null &
  profilers+=($!)
fi
status=0
result=$(/usr/bin/time -f "%U %S" -o "$work/client-time" "$build/bench/est_bench" "$port_https" "$lab/ca-chain.pem" "$lab/device.crt.pem" "$lab/device.key.pem" \
  "$work/bench.csr" "$count" "$concurrency") || status=$?
for p in "${profilers[@]}"; do kill -INT "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
after=$(rows)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
echo "$result"
rate=$(sed -n 's/.*rate \([0-9.]*\)\/s.*/\1/p' <<<"$result")
speed=$(openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/256 bits ecdsa/ {print $(NF-1)}')
echo "openssl speed ecdsap256: $speed sign/s (one core)"
python3 -c "print(f'ratio enrolments/s : P-256 signs/s = {float($rate)/float($speed):.4f}')"
echo "certificate rows added: $((after - before))"
# Client and server share the machine's cores: what each enrolment costs the client says how much
# of the rate is the server's.
read -r client_user client_system <"$work/client-time"
python3 -c "print(f'client CPU per enrolment: {($client_user + $client_system) * 1000 / max(1, $count):.2f} ms')"
echo "load average: $load_start at the start, $load_end at the end ($(nproc) cores)"
if [ -n "${PROFILE:-}" ]; then
  awk -v n="$((after - before))" '/syscalls:|context-switches|task-clock/ { gsub(",", "", $1); printf "serve, per enrolment: %.2f %s\n", $1 / (n > 0 ? n : 1), $2 }' "$work/perf-stat"
  echo "profile: $PROFILE.perf"
fi
exit "$status"
