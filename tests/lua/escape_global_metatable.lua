-- strict globals cannot be switched off
setmetatable(_G, nil)
