-- no string.dump: a script cannot produce bytecode to feed back into load
local code = string.dump(function() return 1 end)
print(#code)
