local x = 1 ÿ
