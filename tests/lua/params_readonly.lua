params.bits = 8
