"""``python -m hlidka``: the same as the ``hlidka`` command (the service starts crawl children this way)."""

import sys

from hlidka.cli import main

sys.exit(main())
