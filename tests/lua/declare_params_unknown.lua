-- run with a mistyped name (bitz=3)
local p = declare_params{ bits = 4, group = 128 }
error("declare_params must have failed")
