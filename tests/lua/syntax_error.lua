-- a syntax error on line 3
local bits = 4
local scale = = 2
