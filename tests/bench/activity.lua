-- activity.lua: POST /api/attempts/{id}?action=activity with events=N
-- events (default 20). Every event has a client_event_id unique to the run
-- (run=ID from bench.sh), the thread and a per-thread counter, so no event
-- is a duplicate and every one is stored. Records: ATTEMPT_ID SUB TOKEN.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local recs, pick, nevents, prefix, counter, hdrs

function init(args)
	local o = bench.parse(args)
	recs = bench.records(o)
	nevents = tonumber(o.events or "20")
	prefix = (o.run or tostring(os.time())) .. "-" .. tostring(tid or 1) .. "-"
	counter = 0
	hdrs = {}
	for i, f in ipairs(recs) do
		hdrs[i] = bench.headers(f[2], f[3], {["Content-Type"] = "application/json"})
	end
	pick = bench.picker(o, #recs)
	bench.install_stop(o)
end

function request()
	local i = pick()
	local ev = {}
	counter = counter + 1
	for k = 1, nevents do
		ev[k] = '{"event_type":"answer_changed","payload":{"question":"q' .. k ..
			'","length":' .. (k * 7) .. '},"client_event_id":"' .. prefix ..
			counter .. '-' .. k .. '","occurred_at":"2024-05-01T10:00:00Z"}'
	end
	return wrk.format("POST", "/api/attempts/" .. recs[i][1] .. "?action=activity",
		hdrs[i], '{"events":[' .. table.concat(ev, ",") .. ']}')
end
