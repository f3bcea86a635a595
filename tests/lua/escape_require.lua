-- no package library: neither Lua nor C modules can be loaded
local lfs = require("lfs")
