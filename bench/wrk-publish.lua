-- wrk: Herald's single publish, as `herald-bench publish` sends it (bench/compare.sh).
--
--   wrk -t1 -c16 -d10s --latency -s bench/wrk-publish.lua http://127.0.0.1:18080
--
-- POST /v1/topics/bench-<k>/notifications with {"event":"bench","data":"<62 x>"}: data
-- of 64 bytes, as `herald-bench publish` sends (--payload 64) and
-- bench/pgbench-publish.sql stores. Each thread's requests go round its own counter over
-- the 16 topics bench-0 .. bench-15. The 16 requests are formatted once, at the thread's
-- start, so the client spends nothing on building them. At the end one line for scripts:
--   RESULT requests=N duration_us=N requests_per_s=N ok_per_s=N p50_ms=N p99_ms=N non2xx=N connect=N read=N write=N timeout=N
-- requests_per_s is wrk's "Requests/sec" (every answer, errors included); ok_per_s leaves
-- out non2xx, wrk's "Non-2xx or 3xx responses" (which counts statuses above 399); connect,
-- read, write and timeout are its "Socket errors". p50/p99 are of every request.

local topics = 16
local body = '{"event":"bench","data":"' .. string.rep("x", 62) .. '"}'
local requests = {}
local counter = 0

function init(args)
    for k = 0, topics - 1 do
        requests[k] = wrk.format("POST", "/v1/topics/bench-" .. k .. "/notifications",
            { ["Content-Type"] = "application/json" }, body)
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
