"""trayapp: Acquire case alerts on a support agent's desktop."""

__version__ = "0.1.0"
