-- run with bits=four
local p = declare_params{ bits = 4 }
