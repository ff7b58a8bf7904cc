"""`python -m sidecar`: the same command as `gameball-sidecar`."""

import sys

from .cli import main

sys.exit(main())
