"""``python -m genzoo`` = the ``genzoo`` command."""

import sys

from genzoo.cli import main

sys.exit(main())
