-- save.lua: PATCH /api/attempts/{id}?action=save, one attempt per record.
-- Records: ATTEMPT_ID SUB TOKEN. The body carries answers and
-- auto_save_data but no expected_version, so saves never conflict; the
-- round-robin picker keeps the requests in flight on distinct attempts.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local reqs, pick

local body = '{"answers":{"q1":"b","q2":"c","q3":"the quick brown fox","q4":42},' ..
	'"auto_save_data":{"progress":60,"cursor":"q4"}}'

function init(args)
	local o = bench.parse(args)
	local recs = bench.records(o)
	local extra = {["Content-Type"] = "application/json"}
	reqs = {}
	for i, f in ipairs(recs) do
		reqs[i] = wrk.format("PATCH", "/api/attempts/" .. f[1] .. "?action=save",
			bench.headers(f[2], f[3], extra), body)
	end
	pick = bench.picker(o, #reqs)
	bench.install_stop(o)
end

function request()
	return reqs[pick()]
end
