rawset(params, "bits", 8)
