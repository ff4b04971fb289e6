"""Build the default face set the export tool calibrates on: edge_models.face_set.

    python tools/build_face_set.py [--assets DIR] [--out DIR]
"""

import sys

from edge_models.face_set import main

if __name__ == "__main__":
    sys.exit(main())
