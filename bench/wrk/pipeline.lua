-- wrk script: HTTP/1.1 pipelining, TechEmpower's plaintext idea.
-- Each connection sends DEPTH requests for the URL's path in one write
-- and waits for their DEPTH responses before the next write.
--
--   wrk -t2 -c64 -d10s -s bench/wrk/pipeline.lua http://127.0.0.1:8080/plaintext -- 16
--
-- The argument after "--" is the depth (default 16). wrk counts every
-- response, so its Requests/sec is requests, not batches; its latency is
-- that of a whole batch.

local depth = 16
local batch

function init(args)
  depth = tonumber(args[1]) or depth
  local one = wrk.format(nil, nil, {["Accept"] = "text/plain"})
  batch = string.rep(one, depth)
end

function request()
  return batch
end
