local f = io.open("/etc/passwd", "r")
print(f:read("a"))
