"""What an anonymous visitor can type: the hostile-content corpus of the UI tests."""

from __future__ import annotations

LONG = "Ω" * 10_000

#: name -> text; every entry must show as plain, harmless text wherever the UI puts it.
HOSTILE: dict[str, str] = {
    "lone-surrogate": "Maria \ud800 Lopez \udfff",
    "nul": "Ma\x00ria",
    "c0-c1": "a\x01b\x07c\x1bd\x7fe\x85f\x9fg",
    "rtl-override": "\u202eevil.exe\u202c and \u2066isolate\u2069 \u200fmark",
    "long": LONG,
    "link": '<a href="https://evil.example/phish">Click to verify your account</a>',
    "heading": "<h1>URGENT</h1>",
    "image": '<img src="https://evil.example/track.png" width=900 height=900>',
    "table": "<table><tr><td>1</td><td>2</td></tr></table>",
    "entities": "&lt;b&gt; &amp; &#x41; &nbsp;",
    "newlines": "line 1\nline 2\r\nline 3\ttabbed",
}

#: The characters none of these may keep anywhere on screen or on the bus.
FORBIDDEN = frozenset(
    {chr(c) for c in range(0x20) if c not in (0x09, 0x0A)}
    | {chr(c) for c in range(0x7F, 0xA0)}
    | set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")  # bidi embeddings, overrides, isolates
)


def has_forbidden(text: str) -> bool:
    return any(ch in FORBIDDEN or "\ud800" <= ch <= "\udfff" for ch in text)
