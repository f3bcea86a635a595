-- keeps every string alive, so only the memory limit can stop it
local t = {}
for i = 1, math.maxinteger do
  t[i] = string.rep("x", 1 << 20) .. i
end
