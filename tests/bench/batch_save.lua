-- batch_save.lua: POST /api/attempts/any-id?action=batch with
-- {"operation": "batch_save", "data": [50 items]}: one student's attempts,
-- all distinct, each item without expected_version (never conflicts).
-- Records: SUB TOKEN ATTEMPT_ID... (bench.sh's batch.txt); key items=N
-- takes the first N attempts of each record (default all).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local reqs, pick

function init(args)
	local o = bench.parse(args)
	local recs = bench.records(o)
	local extra = {["Content-Type"] = "application/json"}
	local want = tonumber(o.items or "0")
	reqs = {}
	for i, f in ipairs(recs) do
		local items = {}
		local last = #f
		if want > 0 and want + 2 < last then
			last = want + 2
		end
		for k = 3, last do
			items[#items + 1] = '{"attempt_id":"' .. f[k] .. '",' ..
				'"answers":{"q1":"b","q2":"c","q3":"the quick brown fox","q4":42},' ..
				'"auto_save_data":{"progress":60,"cursor":"q4"}}'
		end
		local body = '{"operation":"batch_save","data":[' .. table.concat(items, ",") .. ']}'
		reqs[i] = wrk.format("POST", "/api/attempts/any-id?action=batch",
			bench.headers(f[1], f[2], extra), body)
	end
	pick = bench.picker(o, #reqs)
	bench.install_stop(o)
end

function request()
	return reqs[pick()]
end
