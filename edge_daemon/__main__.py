"""`python -m edge_daemon` runs the `emotion-edge` command."""

import sys

from .cli import main

sys.exit(main())
