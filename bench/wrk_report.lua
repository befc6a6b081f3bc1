-- wrk script used by bench/common.py: requests described by environment
-- variables, figures written as JSON to $WRK_OUT when the run ends.
--   WRK_METHOD    GET | POST | PATCH ...
--   WRK_HEADERS   "Name: value" lines
--   WRK_PATHS     file with one path per line, cycled per request (default: the URL's path)
--   WRK_BODY      body; "{pin}" becomes an 8-digit PIN unique in the run, "{n}" a counter
--   WRK_DELAY_MS  pause before each request on a connection (paced load)

local method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY")
local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "0")
local paths = {}
local headers = {}
-- Each wrk run starts its counter elsewhere, so PINs stay unique across runs.
local counter = tonumber(os.getenv("WRK_COUNTER_START") or "0")
local thread_index = 0
local threads = {}

for line in string.gmatch(os.getenv("WRK_HEADERS") or "", "[^\n]+") do
  local name, value = string.match(line, "^([^:]+):%s*(.*)$")
  if name then headers[name] = value end
end
if body then headers["Content-Type"] = "application/json" end
if os.getenv("WRK_PATHS") then
  for path in io.lines(os.getenv("WRK_PATHS")) do
    if path ~= "" then table.insert(paths, path) end
  end
end
statuses = {}  -- global: done() reads it from each thread

function setup(thread)
  thread:set("thread_id", thread_index)
  thread_index = thread_index + 1
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local path = wrk.path
  if #paths > 0 then path = paths[(counter % #paths) + 1] end
  local this_body = nil
  if body then
    local id = thread_id or 0
    local pin = string.format("%08d", 10000000 + id * 1000000 + counter % 1000000)
    this_body = string.gsub(string.gsub(body, "{pin}", pin), "{n}", tostring(counter))
  end
  return wrk.format(method, path, headers, this_body)
end

function response(status, headers, body)
  if status >= 300 then
    statuses[status] = (statuses[status] or 0) + 1
  end
end

if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses") or {}
    for status, n in pairs(counts) do merged[status] = (merged[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(merged) do table.insert(parts, string.format('"%d":%d', status, n)) end
  local out = io.open(os.getenv("WRK_OUT"), "w")
  out:write(string.format(
    '{"requests":%d,"duration_us":%d,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"statuses":{%s}}',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(parts, ",")))
  out:close()
end
