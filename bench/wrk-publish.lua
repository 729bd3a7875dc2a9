-- wrk: Herald's publish, as `herald-bench publish` sends it (bench/compare.sh): one
-- notification per request, or with an argument N (after `--`) N per request to the batch
-- endpoint, as `herald-bench publish --batch N` sends them.
--
--   wrk -t1 -c16 -d10s --latency -s bench/wrk-publish.lua http://127.0.0.1:18080
--   wrk -t1 -c16 -d10s --latency -s bench/wrk-publish.lua http://127.0.0.1:18080 -- 100
--
-- One: POST /v1/topics/bench-<k>/notifications with {"event":"bench","data":"<62 x>"}:
-- data of 64 bytes, as `herald-bench publish` sends (--payload 64) and
-- bench/pgbench-publish.sql stores. N: POST /v1/notifications with
-- {"notifications":[{"topic":"bench-<k>","data":"<62 x>"}, ...]}, the items of a request
-- going round the 16 topics from an offset that moves by one per request. Each thread's
-- requests go round its own counter over the 16 topics bench-0 .. bench-15; the 16
-- requests are formatted once, at the thread's start, so the client spends nothing on
-- building them. At the end one line for scripts (requests, not notifications: multiply
-- by N):
--   RESULT requests=N duration_us=N requests_per_s=N ok_per_s=N p50_ms=N p99_ms=N non2xx=N connect=N read=N write=N timeout=N
-- requests_per_s is wrk's "Requests/sec" (every answer, errors included); ok_per_s leaves
-- out non2xx, wrk's "Non-2xx or 3xx responses" (which counts statuses above 399); connect,
-- read, write and timeout are its "Socket errors". p50/p99 are of every request.

local topics = 16
local data = '"' .. string.rep("x", 62) .. '"'
local requests = {}
local counter = 0

function init(args)
    local items = tonumber(args[1] or "1") or 1
    local json = { ["Content-Type"] = "application/json" }
    for start = 0, topics - 1 do
        if items == 1 then
            requests[start] = wrk.format("POST", "/v1/topics/bench-" .. start .. "/notifications", json,
                '{"event":"bench","data":' .. data .. '}')
        else
            local list = {}
            for i = 0, items - 1 do
                list[#list + 1] = '{"topic":"bench-' .. ((start + i) % topics) .. '","data":' .. data .. '}'
            end
            requests[start] = wrk.format("POST", "/v1/notifications", json,
                '{"notifications":[' .. table.concat(list, ",") .. ']}')
        end
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
