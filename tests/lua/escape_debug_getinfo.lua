local info = debug.getinfo(1, "S")
print(info.source)
