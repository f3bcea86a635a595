-- os keeps only clock, time and date: running a shell command must fail
os.execute("touch /tmp/qscope_sandbox_escaped")
