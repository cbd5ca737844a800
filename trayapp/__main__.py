"""``python -m trayapp``: the ``trayapp`` command (also what :func:`trayapp.cli.reexec_without_secrets` runs)."""

import sys

from trayapp.cli import main

sys.exit(main())
