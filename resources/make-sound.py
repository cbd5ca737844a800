#!/usr/bin/env python3
"""Generate resources/alert.wav: a short, soft two-tone chime (E6 then A5), 0.45 s, 22.05 kHz mono 16-bit.

Written from scratch for trayapp (no samples taken from anywhere): run ``python resources/make-sound.py`` to
rebuild the file byte for byte. Licence: see LICENSES.md in this folder.
"""

from __future__ import annotations

import math
import struct
import sys
import wave
from pathlib import Path

RATE = 22050
NOTES = ((1318.5, 0.0, 0.30), (880.0, 0.14, 0.31))  # (frequency Hz, start s, length s)
LENGTH = 0.45
PEAK = 0.45  # of full scale: pleasant, not startling (the app scales it further by the volume setting)


def sample(t: float) -> float:
    value = 0.0
    for freq, start, length in NOTES:
        u = t - start
        if 0.0 <= u < length:
            attack = min(1.0, u / 0.008)  # 8 ms attack: no click
            decay = math.exp(-u * 9.0) * (1.0 - u / length)  # bell-like decay to silence
            tone = math.sin(2 * math.pi * freq * u) + 0.25 * math.sin(2 * math.pi * 2 * freq * u)
            value += attack * decay * tone / 1.25
    return value


def render() -> bytes:
    frames = [sample(i / RATE) for i in range(int(LENGTH * RATE))]
    peak = max(abs(v) for v in frames) or 1.0
    return b"".join(struct.pack("<h", round(v / peak * PEAK * 32767)) for v in frames)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "alert.wav"
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(render())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
