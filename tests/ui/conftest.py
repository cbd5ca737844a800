"""pytest-qt set-up for the widget tests: offscreen, and Qt warnings fail the test."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")

from tests.ui.qt_messages import fail_on_qt_warnings  # noqa: F401 - autouse: Qt warnings fail the tests
