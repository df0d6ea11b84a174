-- save.lua: PATCH /api/attempts/{id}?action=save, one attempt per record.
-- Records: ATTEMPT_ID SUB TOKEN. The body carries answers and
-- auto_save_data but no expected_version, so saves never conflict; the
-- round-robin picker keeps the requests in flight on distinct attempts.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local body = "{" .. bench.save_fields .. "}"

bench.fixed_requests(function(o, f)
	return wrk.format("PATCH", "/api/attempts/" .. f[1] .. "?action=save",
		bench.headers(f[2], f[3], {["Content-Type"] = "application/json"}), body)
end)
