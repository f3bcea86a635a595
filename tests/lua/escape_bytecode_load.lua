-- a hand-made Lua 5.4 binary chunk header ("\27Lua", version 0x54, format 0, LUAC_DATA,
-- sizes, LUAC_INT, LUAC_NUM): load must refuse it even when asked for mode "b"
local header = "\27Lua\x54\0\x19\x93\r\n\x1a\n\4\8\8" ..
               string.pack("<j", 0x5678) .. string.pack("<n", 370.5)
assert(load(header .. "\0\0\0\0", "=evil", "b"))
