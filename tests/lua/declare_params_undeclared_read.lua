local p = declare_params{ bits = 4 }
print(p.bitz)
