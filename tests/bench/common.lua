-- common.lua: shared by the wrk scripts of tests/bench (loaded with dofile
-- from the scenario script's own directory). Not a scenario itself.
--
-- Script arguments (after wrk's "--"), key=value:
--   file=PATH      data file written by bench.sh (one whitespace-separated
--                  record a line; what the fields are depends on the script)
--   threads=N      wrk's -t (each wrk thread takes every N-th record, so
--                  the threads' slices are disjoint)
--   order=random   pick records at random from the slice (default: round
--                  robin, so the requests in flight on one thread's
--                  connections are on distinct records)
--   stop=N         stop each thread after N responses (wrk has no request
--                  count of its own; used for the RSS phase)
--   mark=PATH      with stop: then create PATH.<thread> (wrk itself runs
--                  until -d or SIGINT; bench.sh waits for the marks)
--   plus the script's own keys (nocache=1, events=N, run=ID)
--
-- done() prints one line that bench.sh parses:
--   BENCH_RESULT requests=N duration_us=N rps=X p50_us=N p99_us=N
--                mean_us=X max_us=N status_errors=N socket_errors=N

bench = {}

local next_tid = 0

function setup(thread)
	next_tid = next_tid + 1
	thread:set("tid", next_tid)
end

function bench.parse(args)
	local o = {}
	for _, a in ipairs(args) do
		local k, v = a:match("^([%w_]+)=(.*)$")
		if k == nil then
			error("bench: argument '" .. a .. "' is not key=value")
		end
		o[k] = v
	end
	o.threads = tonumber(o.threads or "1")
	o.stop = tonumber(o.stop or "0")
	return o
end

-- Reads the data file; returns this thread's records (arrays of fields).
function bench.records(o)
	if o.file == nil then
		error("bench: file=PATH is required")
	end
	local all, mine = {}, {}
	for line in io.lines(o.file) do
		if line ~= "" and line:sub(1, 1) ~= "#" then
			local f = {}
			for w in line:gmatch("%S+") do
				f[#f + 1] = w
			end
			all[#all + 1] = f
		end
	end
	local t = (tid or 1) - 1
	for i = 1, #all do
		if (i - 1) % o.threads == t then
			mine[#mine + 1] = all[i]
		end
	end
	if #mine == 0 then
		mine = all
	end
	if #mine == 0 then
		error("bench: no records in " .. o.file)
	end
	return mine
end

-- A picker over n items: round robin from a per-thread offset, or random.
function bench.picker(o, n)
	local i = 0
	if o.order == "random" then
		math.randomseed(os.time() * 1000 + (tid or 1))
		return function()
			return math.random(n)
		end
	end
	return function()
		i = i % n + 1
		return i
	end
end

-- The answers and auto_save_data members of every save's body (no
-- expected_version: saves never conflict), without the braces.
bench.save_fields = '"answers":{"q1":"b","q2":"c","q3":"the quick brown fox","q4":42},' ..
	'"auto_save_data":{"progress":60,"cursor":"q4"}'

-- Defines wrk's init() and request() for a script whose requests are
-- fixed per record: build(o, f) returns the request of record f (its
-- fields) given the parsed arguments o; request() picks one of them.
function bench.fixed_requests(build)
	local reqs, pick
	function init(args)
		local o = bench.parse(args)
		reqs = {}
		for i, f in ipairs(bench.records(o)) do
			reqs[i] = build(o, f)
		end
		pick = bench.picker(o, #reqs)
		bench.install_stop(o)
	end
	function request()
		return reqs[pick()]
	end
end

function bench.headers(sub, token, extra)
	local h = {
		["Authorization"] = "Bearer " .. token,
		["X-Bench-Sub"] = sub,
	}
	for k, v in pairs(extra or {}) do
		h[k] = v
	end
	return h
end

-- Installs response() only when responses must be counted: with no
-- response global wrk skips parsing headers and bodies.
function bench.install_stop(o)
	if o.stop > 0 then
		local seen = 0
		response = function(status, headers, body)
			seen = seen + 1
			if seen == o.stop then
				if o.mark ~= nil then
					local f = io.open(o.mark .. "." .. tostring(tid or 1), "w")
					if f ~= nil then
						f:close()
					end
				end
				wrk.thread:stop()
			end
		end
	end
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		"BENCH_RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d " ..
		"mean_us=%.1f max_us=%d status_errors=%d socket_errors=%d\n",
		summary.requests, summary.duration,
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50.0), latency:percentile(99.0),
		latency.mean, latency.max, e.status,
		e.connect + e.read + e.write + e.timeout))
end
