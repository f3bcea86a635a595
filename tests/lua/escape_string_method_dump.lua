-- the strings' metatable shares the string table, so ("").dump is gone too
local code = ("x").dump(print)
