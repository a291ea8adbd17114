-- wrk script of bench/run.sh's 10^6-certificate rows: GETs for many different certificates, each
-- answer checked for the certificate and the status it must have.
-- Set by the environment:
--   SAMPLES=file  lines "good|revoked SERIAL_HEX GET_PATH" (bench/seed_certificates writes them);
--                 thread N of THREADS asks for lines N, N + THREADS, ... in order, each once; when
--                 its share runs out it starts again (counted as repeats: those may be cached)
--   THREADS=n     wrk's -t
-- An answer counts only when it is 200, a successful OCSPResponse whose length is the body's, with
-- exactly one SingleResponse, whose CertID serial is one this thread asked for and not yet answered,
-- and whose certStatus is the one its line says (good [0], revoked [1]). Anything else is wrong.
-- done() prints "RESULT ok bad errors rate p50_ms p99_ms" (the rate counts ok answers only) and
-- "STATUS good revoked repeats asked" (right answers by status, requests beyond the thread's share,
-- distinct samples asked).
local threads = {}

function wrk.resolve(host, service)
  wrk.addrs = wrk.lookup(host, service)
end

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

local function bytes_of_hex(hex)
  local out = {}
  for i = 1, #hex, 2 do out[#out + 1] = string.char(tonumber(hex:sub(i, i + 1), 16)) end
  local s = table.concat(out)
  if s:byte(1) >= 0x80 then s = "\0" .. s end  -- a DER INTEGER's content is signed
  return s
end

local paths, expected, outstanding, next_line
function init(args)
  ok, bad, good_ok, revoked_ok, repeats = 0, 0, 0, 0, 0
  local count = tonumber(os.getenv("THREADS") or "1")
  paths, expected, outstanding, next_line = {}, {}, {}, 1
  local n = 0
  local file = os.getenv("SAMPLES")
  assert(file, "SAMPLES not set")
  for line in io.lines(file) do
    n = n + 1
    if (n - 1) % count == id - 1 then
      local status, serial, path = line:match("^(%S+) (%x+) (%S+)$")
      assert(status == "good" or status == "revoked", "bad sample line: " .. line)
      local key = bytes_of_hex(serial)
      paths[#paths + 1] = {path, key}
      expected[key] = status
    end
  end
  assert(#paths > 0, "no samples for thread " .. id)
  asked = 0
end

function request()
  local entry = paths[next_line]
  next_line = next_line + 1
  if next_line > #paths then
    next_line = 1
  end
  if asked >= #paths then repeats = repeats + 1 else asked = asked + 1 end
  outstanding[entry[2]] = (outstanding[entry[2]] or 0) + 1
  return wrk.format("GET", entry[1])
end

-- A DER length at `at`: the length and where the content starts; nil when malformed.
local function der_length(body, at)
  local first = body:byte(at)
  if first == nil then return nil end
  if first < 0x80 then return first, at + 1 end
  local count = first - 0x80
  if count < 1 or count > 3 then return nil end
  local length = 0
  for i = 1, count do
    local b = body:byte(at + i)
    if b == nil then return nil end
    length = length * 256 + b
  end
  return length, at + 1 + count
end

local function successful(body)
  if body == nil or #body < 5 or body:byte(1) ~= 0x30 then return false end
  local length, at = der_length(body, 2)
  return length ~= nil and at + length - 1 == #body and body:sub(at, at + 2) == "\10\1\0"
end

-- The CertID of a nonce-less SHA-1 request starts with this AlgorithmIdentifier (NULL parameters);
-- the responder echoes the request's CertID byte for byte.
local sha1_cert_id = "\48\9\6\5\43\14\3\2\26\5\0\4\20"

-- "good", "revoked", "unknown" and the serial's content bytes, or nil when there is not exactly one
-- SingleResponse of that shape.
local function single_status(body)
  local at = body:find(sha1_cert_id, 1, true)
  if at == nil or body:find(sha1_cert_id, at + 1, true) ~= nil then return nil end
  at = at + #sha1_cert_id + 20                            -- issuerNameHash
  if body:sub(at, at + 1) ~= "\4\20" then return nil end  -- issuerKeyHash
  at = at + 22
  if body:byte(at) ~= 2 then return nil end               -- serialNumber INTEGER
  local length, content = der_length(body, at + 1)
  if length == nil then return nil end
  local serial = body:sub(content, content + length - 1)
  local tag = body:byte(content + length)
  local status = (tag == 0x80 and "good") or (tag == 0xa1 and "revoked") or (tag == 0x82 and "unknown") or nil
  return status, serial
end

function response(status, headers, body)
  local right = false
  if status == 200 and successful(body) then
    local seen, serial = single_status(body)
    if seen ~= nil and (outstanding[serial] or 0) > 0 then
      outstanding[serial] = outstanding[serial] - 1
      right = seen == expected[serial]
      if right and seen == "good" then good_ok = good_ok + 1 end
      if right and seen == "revoked" then revoked_ok = revoked_ok + 1 end
    end
  end
  if right then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local o, b, g, r, rep, a = 0, 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok")
    b = b + t:get("bad")
    g = g + t:get("good_ok")
    r = r + t:get("revoked_ok")
    rep = rep + t:get("repeats")
    a = a + t:get("asked")
  end
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %.1f %.2f %.2f\n", o, b, e.connect + e.read + e.write + e.status + e.timeout,
    o / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  io.write(string.format("STATUS %d %d %d %d\n", g, r, rep, a))
end
