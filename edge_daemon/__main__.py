"""`python -m edge_daemon` runs the `emotion-edge` command."""

import sys

from edge_daemon.cli import main

sys.exit(main())
