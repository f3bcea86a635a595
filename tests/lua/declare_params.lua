-- run with: bits=3 scale=0.5 name=run7 quick=true sites=attn_in,ffn_down_in groups=32,128
local p = declare_params{
  bits = 4, scale = 1.0, name = "default", quick = false, ctx = 256,
  sites = { "attn_in" }, groups = { 64 }, empty = {},
}
assert(p == params, "declare_params stores its table as params")
assert(p.bits == 3 and math.type(p.bits) == "integer")
assert(p.scale == 0.5 and math.type(p.scale) == "float")
assert(p.name == "run7")
assert(p.quick == true)
assert(p.ctx == 256)                                  -- default kept
assert(#p.sites == 2 and p.sites[1] == "attn_in" and p.sites[2] == "ffn_down_in")
assert(#p.groups == 2 and p.groups[2] == 128 and math.type(p.groups[1]) == "integer")
assert(#p.empty == 0)
local n = 0
for _, v in ipairs(p.sites) do n = n + #v end
assert(n == #"attn_in" + #"ffn_down_in")
local keys = {}
for k in pairs(p) do keys[#keys + 1] = k end
table.sort(keys)
assert(table.concat(keys, ",") == "bits,ctx,empty,groups,name,quick,scale,sites")
assert(not pcall(function() p.sites[3] = "x" end), "lists are read-only too")
assert(param("bits", 8) == 3)
assert(param("absent", 42) == 42)
result = p.bits * 100 + #p.sites
