"""``python -m sklearn_otmix``: the demo, or clustering of a .csv/.npy file."""

import sys

from ._cli import main

sys.exit(main())
