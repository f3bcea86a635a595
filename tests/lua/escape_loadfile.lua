local f = loadfile("tests/lua/sandbox_ok.lua")
