local function inner(x)
  return x.field        -- line 2: x is nil
end

local function outer()
  local v = inner(nil)  -- line 6
  return v
end

outer()                 -- line 10
