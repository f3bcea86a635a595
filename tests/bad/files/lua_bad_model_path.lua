local m = qs.model('does/not/exist.bin')
