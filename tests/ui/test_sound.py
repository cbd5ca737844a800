"""The alert sound: which player, which file, which volume — without playing audio."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from trayapp.resources import resource_path
from trayapp.ui.sound import SOUND_FILE, SoundPlayer, choose_method, scaled_wav


def fake_which(*present: str):
    return lambda name: f"/usr/bin/{name}" if name in present else None


@pytest.mark.parametrize(("platform", "present", "method"), [
    ("linux", ("paplay", "aplay"), ("command", "/usr/bin/paplay")),
    ("linux", ("pw-play", "aplay"), ("command", "/usr/bin/pw-play")),
    ("linux", ("aplay",), ("command", "/usr/bin/aplay", "-q")),
    ("linux", (), ("beep",)),
    ("freebsd14", ("paplay",), ("command", "/usr/bin/paplay")),
    ("darwin", ("afplay", "paplay"), ("command", "/usr/bin/afplay")),
    ("darwin", (), ("beep",)),
    ("win32", (), ("winsound",)),
])
def test_choose_method(platform: str, present: tuple[str, ...], method: tuple[str, ...]) -> None:
    assert choose_method(platform, fake_which(*present)) == method


def test_bundled_sound_is_short_and_scaled_copies_are_quieter(tmp_path: Path) -> None:
    source = resource_path(SOUND_FILE)
    with wave.open(str(source), "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        assert 0.2 < w.getnframes() / w.getframerate() < 1.0  # short

    def peak(path: Path) -> int:
        with wave.open(str(path), "rb") as w:
            data = w.readframes(w.getnframes())
        return max(abs(int.from_bytes(data[i:i + 2], "little", signed=True)) for i in range(0, len(data), 2))

    half = scaled_wav(source, 50, tmp_path)
    assert half.name == "alert-50.wav"
    assert peak(half) == pytest.approx(peak(source) / 2, abs=2)
    assert scaled_wav(source, 50, tmp_path) == half  # cached
    assert scaled_wav(source, 100, tmp_path) == source


def test_player_runs_the_command_or_falls_back_to_the_bell(tmp_path: Path, qtbot) -> None:
    started: list[tuple[str, list[str]]] = []
    bells: list[int] = []
    player = SoundPlayer(method=("command", "/usr/bin/aplay", "-q"),
                         starter=lambda p, a: started.append((p, a)) or True,
                         beeper=lambda: bells.append(1), cache_dir=tmp_path)
    player.play(40)
    player.play(0)  # volume 0: silent
    assert started == [("/usr/bin/aplay", ["-q", str(tmp_path / "alert-40.wav")])]
    failing = SoundPlayer(method=("command", "/nowhere/paplay"), starter=lambda p, a: False,
                          beeper=lambda: bells.append(1), cache_dir=tmp_path)
    failing.play(70)
    assert bells == [1]
    SoundPlayer(method=("beep",), beeper=lambda: bells.append(2), cache_dir=tmp_path).play(70)
    assert bells == [1, 2]
