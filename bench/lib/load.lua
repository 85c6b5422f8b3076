-- wrk script of the benchmarks. bench/lib/wrk.py prepends the plan:
--   SLOTS      list of slots (one per client); a slot is a list of {path=, body=} requests
--   HEADERS    headers of every request (Authorization, Content-Type)
--   THREADS    number of wrk threads
--   KEY_PREFIX prefix of the Idempotency-Key, unique per run
-- Thread t serves slots t+1, t+1+THREADS, ...; request k of a thread goes to slot k mod n
-- and takes that slot's requests in turn, so consecutive requests hit different slots.
-- Every request carries its own Idempotency-Key; any non-2xx answer is counted as bad.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  mine = {}
  for i = tid + 1, #SLOTS, THREADS do
    mine[#mine + 1] = SLOTS[i]
  end
  counter = 0
  bad = 0
  first_bad = ""
end

function request()
  local n = #mine
  local slot = mine[(counter % n) + 1]
  local req = slot[(math.floor(counter / n) % #slot) + 1]
  HEADERS["Idempotency-Key"] = KEY_PREFIX .. "-" .. tid .. "-" .. counter
  counter = counter + 1
  return wrk.format("POST", req.path, HEADERS, req.body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
    if first_bad == "" then
      first_bad = status .. " " .. string.sub(body or "", 1, 400)
    end
  end
end

function done(summary, latency, requests)
  local nbad, first = 0, ""
  for _, t in ipairs(threads) do
    nbad = nbad + (t:get("bad") or 0)
    local fb = t:get("first_bad")
    if first == "" and fb ~= nil then first = fb end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH-RESULT requests=%d duration_us=%d bad=%d connect=%d read=%d write=%d " ..
    "status=%d timeout=%d\n",
    summary.requests, summary.duration, nbad, e.connect, e.read, e.write, e.status, e.timeout))
  -- the latency histogram (microseconds:count), so rounds can be merged exactly
  local parts = {}
  for i = 1, #latency do
    local value, count = latency(i)
    parts[#parts + 1] = string.format("%d:%d", value, count)
  end
  io.write("BENCH-LATENCY " .. table.concat(parts, " ") .. "\n")
  io.write("BENCH-FIRST-BAD " .. (string.gsub(first, "[\r\n]", " ")) .. "\n")
end
