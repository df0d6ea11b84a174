-- batch_save.lua: POST /api/attempts/any-id?action=batch with
-- {"operation": "batch_save", "data": [50 items]}: one student's attempts,
-- all distinct, each item without expected_version (never conflicts).
-- Records: SUB TOKEN ATTEMPT_ID... (bench.sh's batch.txt); key items=N
-- takes the first N attempts of each record (default all).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

bench.fixed_requests(function(o, f)
	local want = tonumber(o.items or "0")
	local items = {}
	local last = #f
	if want > 0 and want + 2 < last then
		last = want + 2
	end
	for k = 3, last do
		items[#items + 1] = '{"attempt_id":"' .. f[k] .. '",' .. bench.save_fields .. '}'
	end
	local body = '{"operation":"batch_save","data":[' .. table.concat(items, ",") .. ']}'
	return wrk.format("POST", "/api/attempts/any-id?action=batch",
		bench.headers(f[1], f[2], {["Content-Type"] = "application/json"}), body)
end)
