-- everything a sweep script legitimately needs still works
assert(string.format("%5.2f", math.pi) == " 3.14")
assert(("a,b,c"):gsub(",", ";") == "a;b;c")
assert(utf8.len("héllo") == 5)
local t = { 3, 1, 2 }
table.sort(t)
assert(table.concat(t, " ") == "1 2 3")
assert(math.type(1) == "integer" and math.floor(2.5) == 2)
local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
assert(co(1) == 2 and co(5) == 10)
assert(type(os.clock()) == "number" and type(os.time()) == "number")
assert(os.date("!%Y-%m-%d", 0) == "1970-01-01")
assert(load("return 1 + 1")() == 2)
local env = { x = 5 }
assert(load("return x", "=chunk", "t", env)() == 5)
local ok, err = pcall(error, "caught")
assert(not ok and err == "caught")
assert(os.execute == nil and os.getenv == nil and os.exit == nil and os.remove == nil)
assert(os.rename == nil and os.tmpname == nil)
assert(string.dump == nil and rawget(_G, "io") == nil and rawget(_G, "debug") == nil)
assert(rawget(_G, "package") == nil and rawget(_G, "require") == nil)
assert(getmetatable(_G) == "strict globals (locked)")
assert(param("bits", 4) == 4)
result = 42
