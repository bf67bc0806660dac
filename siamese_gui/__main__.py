"""Run `python -m siamese_gui`."""

import sys

from siamese_gui.cli.commands import main

sys.exit(main())
