# Sandbox escapes beyond those in tests/unit/test_lua_sandbox.c (which covers os.execute,
# io.popen, io.open, bytecode through load, string.dump, debug.*, package.loadlib, require,
# collectgarbage("stop"), dofile/loadfile, _G's metatable, infinite loops, pcall loops and
# memory), run through `qscope run` as a user would, with --max-seconds 2 --max-memory 64:
# limits inside coroutines, inside pcall and inside error handling; finalizers (__gc), which
# Lua runs with hooks off; bytecode through a load reader function; the collector's other
# modes; unbounded recursion in Lua and in C. Each must stop within the time limit (plus
# slack) with a clear message, never hang, crash or trip a sanitizer.
. "$QS_ROOT/tests/lib/common.sh"
L=$TMP/lua
mkdir -p "$L"
# escape NAME PATTERN SCRIPT-TEXT
escape() {
    printf '%s\n' "$3" > "$L/$1.lua"
    expect_fail "$1" "$2" -- timeout -s KILL 60 "$QSCOPE" run "$L/$1.lua" --max-seconds 2 --max-memory 64 --threads 1
}
LIMIT="script exceeded its time limit of 2 s"
MEM="memory limit of 64 MiB|not enough memory"
escape co_loop "co_loop\.lua:1: $LIMIT" \
    'local co = coroutine.wrap(function() while true do end end)
co()'
escape co_pcall_loop "co_pcall_loop\.lua:.*$LIMIT" \
    'local co = coroutine.wrap(function() while true do pcall(function() while true do end end) end end)
while true do pcall(co) end'
escape co_memory "$MEM|$LIMIT" \
    'local co = coroutine.wrap(function()
  local t = {}
  for i = 1, math.maxinteger do t[i] = string.rep("x", 1 << 16) .. i end
end)
co()'
escape pcall_memory "pcall_memory\.lua:.*$LIMIT|$MEM" \
    'while true do
  pcall(function() local t = {} for i = 1, math.maxinteger do t[i] = string.rep("x", 1 << 16) .. i end end)
end'
escape tostring_loop "tostring_loop\.lua:1: $LIMIT" \
    'error(setmetatable({}, { __tostring = function() while true do end end }))'
escape close_loop "close_loop\.lua:1: $LIMIT" \
    'do local x <close> = setmetatable({}, { __close = function() while true do end end }) end'
GC="setmetatable: __gc metamethods are not allowed in a qscope script"
escape gc_at_exit "gc_at_exit\.lua:1: $GC" \
    'setmetatable({}, { __gc = function() while true do end end })'
escape gc_collect "gc_collect\.lua:1: $GC" \
    'setmetatable({}, { __gc = function() while true do end end })
collectgarbage()'
escape gc_placeholder "gc_placeholder\.lua:2: $GC" \
    'local mt = { __gc = true }   -- marks the object; the function would come later
setmetatable({}, mt)'
# __gc added after setmetatable is never called (Lua decides at setmetatable): runs, then ends
printf '%s\n' 'local mt = {}
local t = setmetatable({}, mt)
mt.__gc = function() while true do end end
t = nil
collectgarbage()
error("reached the end")' > "$L/gc_late.lua"
expect_fail gc_late "gc_late\.lua:6: reached the end" -- timeout -s KILL 60 "$QSCOPE" run "$L/gc_late.lua" --max-seconds 2
escape load_reader "load_reader\.lua:4: attempt to load a binary chunk \(mode is 't'\)" \
    'local parts = { "\27Lua\x54\0\x19\x93\r\n\x1a\n\4\8\8", string.pack("<j", 0x5678), string.pack("<n", 370.5), "\0\0\0\0" }
local i = 0
local f, err = load(function() i = i + 1 return parts[i] end, "=evil", "b")
assert(f, err)'
escape load_env "load_env\.lua:2: undefined global 'io'" \
    'local f = assert(load("return io", "=chunk", "t", _ENV))
local io_lib = io'
for mode in generational incremental setpause setstepmul; do
    escape "gc_$mode" "collectgarbage\('$mode'\) is not allowed" "collectgarbage(\"$mode\", 100)"
done
escape recursion "recursion\.lua:1: stack overflow" \
    'local function f(n) return 1 + f(n + 1) end
f(1)'
# each coroutine.wrap level adds its position to the error: a long but clean message
escape c_stack "c_stack\.lua:1: .*c_stack\.lua:1: " \
    'local function f() return coroutine.wrap(f)() end
f()'
escape gsub_recursion "C stack overflow" \
    'local function f(s) return (s:gsub(".", f)) end
f("ab")'
# the strings' metatable is locked: a script can neither read nor replace it
escape string_metatable "string_metatable.lua:2: attempt to index a string value" \
    'local mt = getmetatable("")
mt.__index = nil'
summary
