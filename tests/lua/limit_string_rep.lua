-- a single 1 GiB request is refused at once
local s = string.rep("x", 1 << 30)
print(#s)
