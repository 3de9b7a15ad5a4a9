-- concurrency.lua: algo.Leases over the single window. The key is a hash of
-- the leases held: field the lease id, value its expiry "time" or
-- "time:cost". It expires with its last lease; release.lua removes one.

local c, peek = unit(tonumber(ARGV[4]))
local lease = ARGV[5]
local limit, p = window(1)
local key = KEYS[1]

local sum, first, last, held = 0, nil, 0, false
local dead = {}
local fields = redis.call('HGETALL', key)
for j = 1, #fields, 2 do
  local eu, en, ec = parse_entry(fields[j + 1])
  local rel = since(eu, en, now_u, now_n)
  if rel <= 0 then
    dead[#dead + 1] = fields[j]
  else
    sum = sum + ec
    if not first or rel < first then first = rel end
    if rel > last then last = rel end
    if fields[j] == lease then held = true end
  end
end
if #dead > 0 then del_many('HDEL', key, dead) end

local r = {math.max(0, limit - sum), last, 0}
if held and not peek then
  -- The lease was acquired by this very request, which is being retried:
  -- answer it again without a second charge.
  return {1, 0, r[1], math.max(last, p), 0}
end
if c > limit then
  r[3] = p
  return reply(false, 0, {r}, {r})
elseif sum + c > limit then
  -- A slot usually frees when a request finishes, long before its lease
  -- expires: retry after at most algo.ConcurrencyRetryAfter (1s).
  r[3] = math.min(1000000000, first)
  return reply(false, 0, {r}, {r})
elseif peek then
  return reply(true, 0, {r}, {r})
end
local xu, xn = add(now_u, now_n, p)
redis.call('HSET', key, lease, format_entry(xu, xn, c))
local reset = math.max(last, p)
redis.call('PEXPIRE', key, ttl(reset))
return reply(true, 0, {r}, {{r[1] - c, reset, 0}})
