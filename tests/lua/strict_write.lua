local bits = 4
bitz = 8
