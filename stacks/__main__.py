"""`python -m stacks ...`: the offline tools (stacks/tools/cli.py)."""

import sys

from stacks.tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
