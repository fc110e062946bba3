"""python -m lowthread [demo|info|bench|run]: the command line (lowthread/cli)."""

import sys

from lowthread.cli import main

if __name__ == "__main__":
    sys.exit(main())
