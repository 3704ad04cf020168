"""``python -m gcp2aws``: the same entry point as the ``gcp2aws`` console script."""

from __future__ import annotations

import sys

from gcp2aws.hotpath import main

if __name__ == "__main__":
    sys.exit(main())
