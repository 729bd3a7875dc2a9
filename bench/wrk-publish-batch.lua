-- wrk: Herald's batch endpoint, 100 notifications per request, as
-- `herald-bench publish --batch 100` sends it (bench/compare.sh).
--
--   wrk -t1 -c16 -d10s --latency -s bench/wrk-publish-batch.lua http://127.0.0.1:18080
--
-- POST /v1/notifications with {"notifications":[{"topic":"bench-<k>","data":"<62 x>"}, ...]}
-- (data of 64 bytes, as herald-bench sends):
-- the items of a request go round the 16 topics bench-0 .. bench-15 from an offset that
-- each thread's counter moves by one per request. The 16 requests are formatted once, at
-- the thread's start. At the end the same RESULT line as bench/wrk-publish.lua (requests,
-- not notifications: multiply by 100).

local topics = 16
local items = 100
local data = '"' .. string.rep("x", 62) .. '"'
local requests = {}
local counter = 0

function init(args)
    for start = 0, topics - 1 do
        local list = {}
        for i = 0, items - 1 do
            list[#list + 1] = '{"topic":"bench-' .. ((start + i) % topics) .. '","data":' .. data .. '}'
        end
        requests[start] = wrk.format("POST", "/v1/notifications",
            { ["Content-Type"] = "application/json" }, '{"notifications":[' .. table.concat(list, ",") .. ']}')
    end
end

function request()
    local r = requests[counter % topics]
    counter = counter + 1
    return r
end

function done(summary, latency, _)
    local e = summary.errors
    io.write(string.format(
        "RESULT requests=%d duration_us=%d requests_per_s=%.0f ok_per_s=%.0f p50_ms=%.2f p99_ms=%.2f non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
        summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
        (summary.requests - e.status) / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        e.status, e.connect, e.read, e.write, e.timeout))
end
