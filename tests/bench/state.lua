-- state.lua: GET /api/attempts/{id}?action=state, one attempt per record.
-- Records: ATTEMPT_ID SUB TOKEN (bench.sh's single.txt / rss.txt).
-- Keys (see common.lua): nocache=1 adds "Cache-Control: no-cache" (the
-- service then bypasses its cache; the baseline ignores the header).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local reqs, pick

function init(args)
	local o = bench.parse(args)
	local recs = bench.records(o)
	local extra = o.nocache == "1" and {["Cache-Control"] = "no-cache"} or nil
	reqs = {}
	for i, f in ipairs(recs) do
		reqs[i] = wrk.format("GET", "/api/attempts/" .. f[1] .. "?action=state",
			bench.headers(f[2], f[3], extra))
	end
	pick = bench.picker(o, #reqs)
	bench.install_stop(o)
end

function request()
	return reqs[pick()]
end
