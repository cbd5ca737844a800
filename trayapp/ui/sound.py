"""The alert sound: ``resources/alert.wav`` at the volume of the settings.

Qt Multimedia is not part of PySide6-Essentials (the app's Qt), so the sound is played by the platform's own
player, started detached (``QProcess.startDetached``: the GUI thread never waits):

1. Linux/BSD: ``paplay`` (PulseAudio / PipeWire-pulse), else ``pw-play`` (PipeWire), else ``aplay`` (ALSA);
   macOS: ``afplay``; Windows: ``winsound`` (standard library, asynchronous).
2. None of them: ``QApplication.beep()`` (the desktop's bell; no volume).

The volume is applied to the samples (a scaled copy of the WAV per volume, written once to a cache folder), so
every player plays it at the same loudness without player-specific flags. The freedesktop ``sound-file`` hint is
not used: servers treat it inconsistently (dunst ignores it, GNOME plays its own theme sound) and at a fixed volume.
"""

from __future__ import annotations

import array
import logging
import shutil
import sys
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Slot
from PySide6.QtWidgets import QApplication

from trayapp.private_files import private_dir
from trayapp.resources import resource_path

log = logging.getLogger(__name__)

SOUND_FILE = "alert.wav"
#: Players tried in this order on Linux/BSD: (program, arguments before the file).
LINUX_PLAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (("paplay", ()), ("pw-play", ()), ("aplay", ("-q",)))


def choose_method(platform: str = sys.platform, which: Callable[[str], str | None] = shutil.which) -> tuple[str, ...]:
    """How this machine plays the sound: ``("command", program, *args)``, ``("winsound",)`` or ``("beep",)``."""
    if platform == "win32":
        return ("winsound",)
    candidates = (("afplay", ()),) if platform == "darwin" else LINUX_PLAYERS
    for program, args in candidates:
        path = which(program)
        if path:
            return ("command", path, *args)
    return ("beep",)


def scaled_wav(source: Path, volume: int, folder: Path) -> Path:
    """A copy of the 16-bit WAV ``source`` with its samples scaled to ``volume`` percent (cached by volume)."""
    volume = max(0, min(100, volume))
    if volume == 100:
        return source
    target = folder / f"{source.stem}-{volume}.wav"
    if target.is_file():
        return target
    with wave.open(str(source), "rb") as r:
        params = r.getparams()
        frames = r.readframes(r.getnframes())
    if params.sampwidth != 2:
        return source
    samples = array.array("h")
    samples.frombytes(frames)
    if sys.byteorder == "big":  # pragma: no cover - WAV is little-endian
        samples.byteswap()
    factor = volume / 100
    scaled = array.array("h", (int(s * factor) for s in samples))
    if sys.byteorder == "big":  # pragma: no cover
        scaled.byteswap()
    private_dir(folder)
    tmp = target.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setparams(params)
        w.writeframes(scaled.tobytes())
    tmp.replace(target)
    return target


def _cache_dir() -> Path:
    """The user's own cache folder (not a shared /tmp folder another user could have planted files in)."""
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("trayapp", appauthor=False)) / "sounds"
    except ImportError:  # pragma: no cover - platformdirs is a dependency
        return Path(tempfile.mkdtemp(prefix="trayapp-sounds-"))


def _start_detached(program: str, args: list[str]) -> bool:
    result = QProcess.startDetached(program, args)
    return bool(result[0] if isinstance(result, tuple) else result)


class SoundPlayer(QObject):
    """Plays the alert sound; never blocks and never raises (a failure is logged once).

    ``starter(program, args) -> bool`` starts a detached process (tests pass a recorder); ``beeper()`` rings
    the bell; ``method`` overrides :func:`choose_method`.
    """

    def __init__(self, parent: QObject | None = None, *, method: tuple[str, ...] | None = None,
                 starter: Callable[[str, list[str]], bool] | None = None, beeper: Callable[[], None] | None = None,
                 cache_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.method = method if method is not None else choose_method()
        self._starter = starter or _start_detached
        self._beeper = beeper or QApplication.beep
        self._cache = cache_dir or _cache_dir()
        self._warned = False
        self.played: list[int] = []  # volumes played, for diagnostics and tests

    def file_for(self, volume: int) -> Path:
        return scaled_wav(resource_path(SOUND_FILE), volume, self._cache)

    @Slot(int)
    def play(self, volume: int) -> None:
        if volume <= 0:
            return
        self.played.append(volume)
        try:
            kind = self.method[0]
            if kind == "command":
                if not self._starter(self.method[1], [*self.method[2:], str(self.file_for(volume))]):
                    raise OSError(f"{self.method[1]} did not start")
            elif kind == "winsound":  # pragma: no cover - Windows only
                import winsound

                flags = winsound.SND_FILENAME | winsound.SND_ASYNC  # type: ignore[attr-defined,unused-ignore]
                winsound.PlaySound(str(self.file_for(volume)), flags)  # type: ignore[attr-defined,unused-ignore]
            else:
                self._beeper()
        except (OSError, RuntimeError, ImportError) as exc:
            if not self._warned:
                log.warning("cannot play the alert sound (%s); ringing the bell instead", exc)
                self._warned = True
            self._beeper()
