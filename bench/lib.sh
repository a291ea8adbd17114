# Pieces shared by the benchmark scripts (sourced, from the repository's root): tools, the Release
# build, throw-away instances, servers on loopback that are stopped on exit, and wrk with the checking
# Lua script (bench/ocsp_check.lua). Not a test; not in ctest.
# shellcheck shell=bash

# wrk and nginx-light (and the rest of the project's Debian packages) come from deploy/install-deps.sh.
bench_tools() {
  local tool
  for tool in wrk nginx; do
    command -v "$tool" >/dev/null || { bash deploy/install-deps.sh; return; }
  done
}

# An existing build directory is used as it is configured (a dev build gives dev numbers); a new one
# is RelWithDebInfo without sanitizers.
bench_build() {  # BUILD_DIR TARGET...
  local build=$1
  shift
  [ -f "$build/CMakeCache.txt" ] ||
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFCA_SANITIZE=OFF -DFCA_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" --target "$@" >/dev/null
}

# The scratch directory and every process started through bench_spawn go away on exit, Ctrl-C included.
bench_work=""
bench_pids=()
bench_cleanup() {
  local i pid
  for ((i = ${#bench_pids[@]} - 1; i >= 0; i--)); do
    pid=${bench_pids[i]}
    if kill -TERM "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
  done
  bench_pids=()
  [ -n "$bench_work" ] && rm -rf "$bench_work"
  bench_work=""
}
bench_begin() {
  bench_work="$(mktemp -d)"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}
bench_spawn() {  # COMMAND...: runs it in the background; its pid in $bench_pid
  "$@" &
  bench_pid=$!
  bench_pids+=("$bench_pid")
}
bench_stop() {  # PID
  if kill -TERM "$1" 2>/dev/null; then wait "$1" 2>/dev/null || true; fi
  local kept=() pid
  for pid in "${bench_pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  bench_pids=("${kept[@]}")
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# An HTTP request, not a bare connection: `openssl ocsp` (3.0) spins forever on a connection closed
# without one, and serve logs a malformed one.
bench_wait_http() {  # PORT: up to 10 s for an HTTP answer (any status) on 127.0.0.1:PORT
  local _
  for _ in $(seq 100); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" && return 0
    sleep 0.1
  done
  echo "bench: nothing listens on 127.0.0.1:$1" >&2
  return 1
}

# A throw-away CA instance: `init` (extra arguments passed on), one plain listener on 127.0.0.1:PORT
# for OCSP and CRLs, log level warn.
bench_instance() {  # CA_BINARY DIR PORT [INIT_ARGUMENTS...]
  local ca=$1 dir=$2 port=$3
  shift 3
  "$ca" init --dir "$dir" --url-base "http://127.0.0.1:$port" "$@" >/dev/null 2>&1
  python3 - "$dir/config.json" "$port" <<'PY'
import json, sys
path, port = sys.argv[1], int(sys.argv[2])
config = json.load(open(path))
config["serve"]["listeners"] = [{"address": "127.0.0.1", "port": port, "frontends": ["ocsp", "crl"]}]
config["log"]["level"] = "warn"
json.dump(config, open(path, "w"), indent=2)
PY
}

# A leaf certificate from DIR's issuing CA (P-256 key, profile nmos-node) as DIR/../NAME.pem/.key.
bench_leaf() {  # CA_BINARY DIR NAME
  local out
  out="$(dirname "$2")/$3"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$out.key" \
    -subj "/CN=$3.example.com" -out "$out.csr" 2>/dev/null
  "$1" issue --dir "$2" --csr "$out.csr" --profile nmos-node --out "$out.pem" 2>/dev/null
}

# nginx-light answering every GET and POST on 127.0.0.1:PORT with the bytes of FILE (200,
# application/ocsp-response). A static file cannot answer a POST (405), so the 405 is turned into an
# internal GET of the same file: `error_page 405 =200 $uri`.
bench_nginx() {  # FILE PORT WORKERS
  local root="$bench_work/nginx-$2"
  mkdir -p "$root/root" "$root/tmp"
  cp "$1" "$root/root/response.der"
  chmod -R a+rX "$bench_work"  # nginx workers run as another user when the bench runs as root
  cat >"$root/nginx.conf" <<NGINX
worker_processes $3;
pid $root/nginx.pid;
error_log $root/error.log warn;
events { worker_connections 4096; }
http {
  access_log /dev/null;
  client_body_temp_path $root/tmp; proxy_temp_path $root/tmp; fastcgi_temp_path $root/tmp;
  uwsgi_temp_path $root/tmp; scgi_temp_path $root/tmp;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:$2;
    root $root/root;
    location / {
      default_type application/ocsp-response;
      rewrite ^ /response.der break;
      error_page 405 =200 \$uri;
    }
  }
}
NGINX
  bench_spawn nginx -c "$root/nginx.conf" -g 'daemon off;'
  bench_wait_http "$2"
}

# wrk with bench/ocsp_check.lua; the environment (EXPECTED, BODY, NONCE, CLOSE) says what is sent and
# what an answer must be. Prints "ok bad errors rate p50_ms p99_ms".
bench_wrk() {  # URL CONNECTIONS SECONDS [THREADS]
  wrk -t"${4:-2}" -c"$2" -d"${3}s" --timeout 2s -s bench/ocsp_check.lua "$1" 2>&1 |
    awk '/^RESULT/ { print $2, $3, $4, $5, $6, $7; found = 1 } END { if (!found) print "0 0 1 0 0 0" }'
}

# The URL path of an RFC 5019 GET for a DER request file.
bench_get_path() {  # REQUEST_DER
  echo "/ocsp/$(base64 -w0 "$1" | sed 's|/|%2F|g; s|+|%2B|g; s|=|%3D|g')"
}

bench_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
bench_load() { cut -d' ' -f1-3 /proc/loadavg; }
