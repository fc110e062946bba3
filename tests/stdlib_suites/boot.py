# Run by the site hook (lt_stdlib.pth) at the start of every Python process of
# a lowthread run, test subprocesses and multiprocessing children included:
# puts threading on lowthread before anything imports it.
import lowthread

lowthread.install()
