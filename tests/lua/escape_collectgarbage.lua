-- inspecting and helping the collector is fine ...
assert(type(collectgarbage("count")) == "number")
collectgarbage("collect")
collectgarbage("step")
-- ... stopping it is the host's decision
collectgarbage("stop")
