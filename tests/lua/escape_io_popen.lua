-- there is no io library at all: files are reached only through qs.* functions
local p = io.popen("id")
print(p:read("a"))
