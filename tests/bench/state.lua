-- state.lua: GET /api/attempts/{id}?action=state, one attempt per record.
-- Records: ATTEMPT_ID SUB TOKEN (bench.sh's single.txt / rss.txt).
-- Keys (see common.lua): nocache=1 adds "Cache-Control: no-cache" (the
-- service then bypasses its cache; the baseline ignores the header).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

bench.fixed_requests(function(o, f)
	local extra = o.nocache == "1" and {["Cache-Control"] = "no-cache"} or nil
	return wrk.format("GET", "/api/attempts/" .. f[1] .. "?action=state",
		bench.headers(f[2], f[3], extra))
end)
