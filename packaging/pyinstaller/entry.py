"""PyInstaller entry point of the bundled ``trayapp`` command (the same ``main`` as the pip-installed one).

``trayapp trayapp://connect?...`` (how the desktop runs the link handler) works here too: cli.main reads it.

In a bundle ``sys.executable`` is this program, not a Python interpreter. ``trayapp demo`` starts its throw-away
bridge as ``sys.executable -c "<the bridge CLI snippet>" serve ...`` (see ``DemoBridge`` in trayapp/demo/bridge.py),
so the bundle answers exactly that one snippet by running the bridge CLI. Nothing else given with ``-c`` is executed.
"""

import multiprocessing
import sys

BRIDGE_SNIPPET = "import sys; from trayapp.bridge.cli import main; sys.exit(main())"


def run() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "-c" and sys.argv[2] == BRIDGE_SNIPPET:
        from trayapp.bridge.cli import main as bridge_main

        sys.argv = ["trayapp-bridge", *sys.argv[3:]]
        return bridge_main(sys.argv[1:])
    from trayapp.cli import main

    return main()


if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(run())
