-- wrk script of bench/run.sh and bench/transport_bench.sh: an answer counts only when it is right.
-- Set by the environment:
--   EXPECTED=file  every answer must be 200 and exactly these bytes (the pre-signed answer);
--                  without it, 200 and a successful OCSPResponse: a DER SEQUENCE whose length is the
--                  body's, opening with responseStatus ENUMERATED 0 (bytes 30 8x .. 0a 01 00)
--   BODY=file      POST this DER request as application/ocsp-request (GET of the URL's path otherwise)
--   NONCE=1        with BODY: the request's last 16 bytes (its nonce) are new for every request, and
--                  the answer must echo this thread's nonce (checked by its first 9 bytes)
--   CLOSE=1        "Connection: close": one request per connection
-- done() prints "RESULT ok bad errors rate p50_ms p99_ms"; the rate counts the ok answers only.
local threads = {}

local function slurp(name)
  local f = assert(io.open(name, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local expected = os.getenv("EXPECTED") and slurp(os.getenv("EXPECTED"))
local body_file = os.getenv("BODY")
local with_nonce = body_file ~= nil and os.getenv("NONCE") == "1"
if os.getenv("CLOSE") == "1" then wrk.headers["Connection"] = "close" end
if body_file then
  wrk.method = "POST"
  wrk.body = slurp(body_file)
  wrk.headers["Content-Type"] = "application/ocsp-request"
end

-- wrk's own resolve() opens and closes a connection to the address first, to see that it answers;
-- `openssl ocsp` (3.0) then spins forever on that empty connection and serves no one. The address is
-- a numeric loopback one, so it is taken as it is.
function wrk.resolve(host, service)
  wrk.addrs = wrk.lookup(host, service)
end

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

local nonce_tag, sent, request_head
function init(args)
  ok, bad = 0, 0
  if with_nonce then
    nonce_tag = "fcabench" .. string.char(id % 256)
    sent = 0
    request_head = wrk.body:sub(1, #wrk.body - 16)
  end
end

if with_nonce then
  function request()
    sent = sent + 1
    local counter, n = {}, sent
    for i = 1, 7 do
      counter[i] = string.char(n % 256)
      n = math.floor(n / 256)
    end
    return wrk.format(nil, nil, nil, request_head .. nonce_tag .. table.concat(counter))
  end
end

-- A successful OCSPResponse: SEQUENCE (short or long form length) covering the whole body, then
-- responseStatus ENUMERATED successful(0).
local function successful(body)
  if body == nil or #body < 5 or body:byte(1) ~= 0x30 then return false end
  local first, at, length = body:byte(2), 3, 0
  if first < 0x80 then
    length = first
  else
    local count = first - 0x80
    if count < 1 or count > 3 then return false end
    for i = 0, count - 1 do length = length * 256 + body:byte(3 + i) end
    at = 3 + count
  end
  return at + length - 1 == #body and body:sub(at, at + 2) == "\10\1\0"
end

function response(status, headers, body)
  local right
  if expected then
    right = status == 200 and body == expected
  else
    right = status == 200 and successful(body)
  end
  if right and with_nonce then right = string.find(body, nonce_tag, 1, true) ~= nil end
  if right then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok")
    b = b + t:get("bad")
  end
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %.1f %.2f %.2f\n", o, b, e.connect + e.read + e.write + e.status + e.timeout,
    o / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
