"""Run `python -m siamese_gui`."""

import sys

from siamese_gui.cli import main

sys.exit(main())
