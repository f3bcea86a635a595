-- catching the limit error must not let the script run on
while true do
  pcall(function() while true do end end)
end
