-- concurrency.lua: algo.Leases over the single window. The key is a hash of
-- the leases held: field the lease id, value its expiry "time" or
-- "time:cost". It expires with its last lease; release.lua removes one.

local c, peek = ARGV[4] + 0, false
if c <= 0 then c, peek = 1, true end
local lease = ARGV[5]
local limit, p = ARGV[6] + 0, ARGV[7] + 0
local key = KEYS[1]

local sum, first, last, held = 0, nil, 0, false
local dead, nd = nil, 0
local fields = redis.call('HGETALL', key)
for j = 1, #fields, 2 do
  local eu, en, ec = parse_entry(fields[j + 1])
  local rel = (eu - now_u) * 1000 + (en - now_n)
  if rel <= 0 then
    if nd == 0 then dead = {} end
    nd = nd + 1
    dead[nd] = fields[j]
  else
    sum = sum + ec
    if not first or rel < first then first = rel end
    if rel > last then last = rel end
    if fields[j] == lease then held = true end
  end
end
if nd > 0 then del_many('HDEL', key, dead) end

local remaining = 0
if limit > sum then remaining = limit - sum end
-- A slot usually frees when a request finishes, long before its lease
-- expires: retry after, and expect more units in, at most
-- algo.ConcurrencyRetryAfter (1s).
local CAP = 1000000000
if first and first > CAP then first = CAP end
local next = first or 0
if limit <= 0 then next = p end
if held and not peek then
  -- The lease was acquired by this very request, which is being retried:
  -- answer it again without a second charge.
  if p > last then return {1, 0, remaining, p, 0, next} end
  return {1, 0, remaining, last, 0, next}
end
if c > limit then return {0, 0, remaining, last, p, next} end
if sum + c > limit then return {0, 0, remaining, last, first, next} end
if peek then return {1, 0, remaining, last, 0, next} end
local xu, xn = add(now_u, now_n, p)
redis.call('HSET', key, lease, format_entry(xu, xn, c))
local reset = last
if p > reset then reset = p end
redis.call('PEXPIRE', key, ttl(reset))
local lnext = CAP
if p < lnext then lnext = p end
if first and first < lnext then lnext = first end
return {1, 0, remaining - c, reset, 0, lnext}
