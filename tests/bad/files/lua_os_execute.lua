os.execute('touch /tmp/qscope-escaped')
