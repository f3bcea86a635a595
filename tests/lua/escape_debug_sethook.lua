-- removing the host's limit hook would defeat the time limit
debug.sethook()
while true do end
