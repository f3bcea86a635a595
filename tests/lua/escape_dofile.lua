dofile("tests/lua/sandbox_ok.lua")
