local bits = 4
print(bitz)
