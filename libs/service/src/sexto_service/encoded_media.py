"""Images by content, whatever the wrapping: is a text value an encoded image or binary?

Rule 1 of the domain: no image may enter the system, in any form. A text field, header or
query value is refused when it carries the bytes of an image, a video or another binary
file in one of the usual wrappings: base64 / base64url (split by separators or line
breaks, shifted by a few characters), base32, hex (with or without separators or `0x`),
percent-encoding, HTML/XML entities, `data:` URIs with or without a media type, raw bytes
read as latin-1 or Windows-1252 text (mojibake), and wrappings nested in one another. The
signatures are those of the `filetype` library (images, videos, audio) where the decoded
bytes start, plus the distinctive ones that can be found anywhere in decoded bytes.
Ordinary words in French or English, names with accents, references and seal numbers
pass: a test runs a corpus of them.
"""

from __future__ import annotations

import base64
import binascii
import html
import quopri
import re
from urllib.parse import unquote_to_bytes

import filetype
from sexto_events.messages import Message

# Signatures that only binary data carries (a byte no text has, or a header followed by
# binary): searched anywhere in bytes decoded from a wrapping.
_BINARY_SIGNATURES = re.compile(
    rb"\x89PNG\r\n\x1a\n|\x89PNG|\xff\xd8\xff[\xc0-\xfe]|GIF8[79]a[\x00-\x08\x0e-\x1f\x7f-\xff]"
    rb"|RIFF.{4}(?:WEBP|AVI |WAVE)|\x00\x00\x00[\x00-\x40]ftyp|II\*\x00|MM\x00\*"
    rb"|\x1aE\xdf\xa3|\x00\x00\x01[\x00\xb3\xba]|\x00\x00\x02\x00\x01\x00|BM.{4}\x00\x00\x00\x00"
    rb"|%PDF-\d|\x8aMNG|\x00\x00\x00\x0cjP  |8BPS\x00\x01",
    re.DOTALL,
)
_JPEG_TEXT = ("JFIF", "Exif")  # what JPEG headers hold after their first bytes

# A data: URI, with or without a media type or parameters (`data:,`, `data:;base64,`).
_DATA_URI = re.compile(r"data:[a-z0-9.+/-]*(?:;[a-z0-9=.+-]*)*,", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")

_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{80,}={0,2}")
_BASE64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
# Hex digits (and the hyphens of a GUID) only: an id, read as hex. Read as base64 too, one
# random 32-digit id in 50,000 held a short signature somewhere ("AAABA" is 00 00 01 0x),
# and a valid request was refused. Base64 of a real picture cannot keep to these 23 letters
# (22 of the 64 values: never the byte 0xFF; of the signatures, only the four bytes 00 00 01
# 00 that start an icon or a video can be spelled, a picture's own bytes cannot), and the
# hex reading still looks inside.
_HEX_ONLY = re.compile(r"[0-9A-Fa-f-]+")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/_=-]+")
_B64_LINE = re.compile(r"^[A-Za-z0-9+/_-]{40,}={0,2}$")
# Base32 letters in groups (a separator every few characters is allowed).
_BASE32_RUN = re.compile(r"[A-Z2-7]{2,}(?:[\s.,;:|/_-]*[A-Z2-7]{2,}){3,}={0,6}")
# Hex bytes, with or without separators or 0x / \x prefixes: four bytes or more.
_HEX_RUN = re.compile(r"(?:(?:0x|\\x)?[0-9a-fA-F]{2}[\s,:;|.-]*){4,}")
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]{2}")
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
_NUMERIC_ENTITY = re.compile(r"&#([xX][0-9a-fA-F]{1,6}|[0-9]{1,7});?")
_ENTITY = re.compile(r"&(?:#[0-9]+;?|#x[0-9a-fA-F]+;?|[a-zA-Z]{2,8};)")

# Backslash escapes as source code writes bytes: \211 (octal), \x89, \u0089.
_ESCAPE = re.compile(r"\\([0-7]{3}|x[0-9a-fA-F]{2}|u00[0-9a-fA-F]{2})")
_QUOTED_PRINTABLE = re.compile(r"=[0-9A-F]{2}")
# Eight or more byte values written as decimal numbers (137, 80, 78, 71, ...).
_NUMBER_LIST = re.compile(
    r"(?<!\d)(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)[\s,;]+){7,}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?!\d)"
)
# Runs of the base85 / ascii85 alphabets (Adobe's <~ ~> included), long enough to be data.
_BASE85_RUN = re.compile(r"<~[!-uz\s]{10,}~>|[0-9A-Za-z!#$%&()*+\-;<=>?@^_`{|}~]{20,}")
_BASE85_SYMBOLS = re.compile(r"[!#$%&()*+;<=>?@^`{|}~]")
_UU_BEGIN = re.compile(r"begin [0-7]{3} ")

MAX_DEPTH = 3  # wrappings inside wrappings, e.g. base64 inside percent-encoding
LONG_HEX_BYTES = 48  # a hex run this long is a blob, not a reference


# The filetype library's image and video types whose signature is long enough not to turn
# up by chance in bytes decoded from ordinary words (its GIF, BMP and JPEG matchers read two
# or three bytes: those formats are matched by _BINARY_SIGNATURES, more strictly).
STRONG_TYPES = frozenset(
    {
        "image/png", "image/x-icon", "image/jpx", "image/vnd.adobe.photoshop", "image/tiff",
        "image/webp", "image/x-canon-cr2", "image/avif", "image/heic", "video/x-msvideo",
        "video/x-flv", "video/x-m4v", "video/mpeg", "video/x-ms-wmv", "video/x-matroska",
        "video/quicktime", "video/mp4", "video/webm",
    }
)  # fmt: skip


_STRONG_MATCHERS = tuple(kind for kind in filetype.TYPES if kind.mime in STRONG_TYPES)
# The bytes those signatures and ours start with (box sizes of MP4/MOV/HEIC/JPX start with
# 0x00, ASF with '0', FLV 'F', TIFF and CR2 'I' or 'M', RIFF 'R', PSD '8', PNG 0x89, JPEG
# 0xFF, Matroska 0x1A, BMP 'B', GIF 'G', PDF '%', MNG 0x8A): anything else is no image.
_FIRST_BYTES = frozenset(b"\x00\x1a0FIMR8\x89\xffBG%\x8a")


def starts_like_media(data: bytes) -> bool:
    """True when `data` starts like an image or a video (the filetype library's strong
    signatures, and ours)."""
    head = data[:262]
    if len(head) < 4 or head[0] not in _FIRST_BYTES:
        return False
    return any(kind.match(head) for kind in _STRONG_MATCHERS) or bool(
        _BINARY_SIGNATURES.match(head)
    )


def _binary_inside(data: bytes) -> bool:
    """True when decoded bytes hold a signature only binary files carry, anywhere."""
    return bool(_BINARY_SIGNATURES.search(data)) or starts_like_media(data)


def _not_words(data: bytes) -> bool:
    """True when decoded bytes are not text: invalid UTF-8, or control characters."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return bool(_CONTROL.search(text))


def _b64decode(text: str) -> bytes | None:
    text = text.rstrip("=").replace("-", "+").replace("_", "/")
    text = text[: len(text) - len(text) % 4 if len(text) % 4 != 1 else len(text) - 1]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _base64_streams(value: str) -> list[bytes]:
    """What the value's base64 characters decode to once every separator is taken out, at
    each of the four character offsets (a split or shifted encoding lines up at one)."""
    url = re.sub(r"[^A-Za-z0-9_-]", "", value).replace("-", "+").replace("_", "/")
    standard = re.sub(r"[^A-Za-z0-9+/]", "", value)
    streams = []
    for letters in {url, standard}:
        for offset in range(4):
            decoded = _b64decode(letters[offset:])
            if decoded:
                streams.append(decoded)
    return streams


def _base64_reason(value: str, words: bool, depth: int) -> Message | None:
    if _HEX_ONLY.fullmatch(value):
        return None
    if words and _BASE64_RUN.search(value):
        return Message("holds-base64")
    if any(_binary_inside(stream) for stream in _base64_streams(value)):
        return Message("holds-encoded-image")
    for token in _BASE64_TOKEN.findall(value):
        for offset in range(4):  # a token may start with a character or three of words
            decoded = _b64decode(token[offset:])
            if decoded is None:
                continue
            if starts_like_media(decoded):
                return Message("holds-encoded-image")
            if depth < MAX_DEPTH and not _not_words(decoded):
                inner = refused_text(decoded.decode("utf-8"), words=words, depth=depth + 1)
                if inner:
                    return Message(
                        "holds-wrapped", inner=inner, wrapping=Message("wrapping-base64")
                    )
    lines = [line.strip() for line in value.splitlines() if line.strip()]
    if words and sum(1 for line in lines if _B64_LINE.match(line)) >= 2:
        return Message("holds-base64-lines")
    return None


def _base32_reason(value: str) -> Message | None:
    for run in _BASE32_RUN.findall(value):
        letters = re.sub(r"[^A-Z2-7]", "", run)
        if len(letters) < 13:
            continue
        letters = letters[: len(letters) - len(letters) % 8]
        try:
            decoded = base64.b32decode(letters)
        except (binascii.Error, ValueError):
            continue
        if starts_like_media(decoded):
            return Message("holds-base32-image")
    return None


def _hex_reason(value: str, words: bool) -> Message | None:
    for match in _HEX_RUN.finditer(value):
        run = match.group(0)
        decoded = bytes.fromhex("".join(_HEX_DIGITS.findall(re.sub(r"0x|\\x", "", run))))
        if _binary_inside(decoded):
            return Message("holds-hex-image")
        if words and len(decoded) >= LONG_HEX_BYTES:
            return Message("holds-hex-blob")
    return None


def _mojibake_reason(value: str) -> Message | None:
    """Raw bytes read as latin-1 or Windows-1252 characters (`ÿØÿà`, `‰PNG`)."""
    if all(ord(c) < 0x80 for c in value):
        return None
    for codec in ("latin-1", "cp1252"):
        data = value.encode(codec, errors="replace")
        if _BINARY_SIGNATURES.search(data):
            return Message("holds-bytes-as-text")
        if b"\xff\xd8\xff" in data and any(t in value for t in _JPEG_TEXT):
            return Message("holds-bytes-as-text")
    return None


def _decoded_layers(value: str) -> list[tuple[str, bytes]]:
    """What the value decodes to under the wrappings that change it: (name, bytes)."""
    layers = []
    if _PERCENT.search(value):
        layers.append(("wrapping-percent", unquote_to_bytes(value)))
    if _ENTITY.search(value):
        # Numeric references as the bytes they number (html.unescape would map &#137; to
        # U+2030 and &#0; to U+FFFD, hiding the bytes); named ones as their characters.
        as_bytes = _NUMERIC_ENTITY.sub(lambda m: chr(_entity_byte(m.group(1))), value)
        layers.append(("wrapping-entities", as_bytes.encode("latin-1", errors="replace")))
        layers.append(("wrapping-entities", html.unescape(value).encode("utf-8")))
    if _ESCAPE.search(value):
        unescaped = _ESCAPE.sub(lambda m: chr(_escaped_byte(m.group(1))), value)
        layers.append(("wrapping-escapes", unescaped.encode("latin-1", errors="replace")))
    if len(_QUOTED_PRINTABLE.findall(value)) >= 3:
        layers.append(
            (
                "wrapping-quoted-printable",
                quopri.decodestring(value.encode("latin-1", errors="replace")),
            )
        )
    for run in _NUMBER_LIST.finditer(value):
        numbers = [int(n) for n in re.findall(r"\d+", run.group(0))]
        layers.append(("wrapping-numbers", bytes(n for n in numbers if n < 256)))
    layers += [("wrapping-base85", data) for data in _base85_decoded(value)]
    if _UU_BEGIN.search(value):
        layers.append(("wrapping-uu", _uudecoded(value)))
    return layers


def _base85_decoded(value: str) -> list[bytes]:
    """What runs of the base85 and ascii85 alphabets decode to, at each offset of a group
    of five (a few characters of words may come first), and inside Adobe's <~ ~>."""
    found = []
    for run in _BASE85_RUN.findall(value):
        if not _BASE85_SYMBOLS.search(run) and (run.isupper() or run.islower() or run.isdigit()):
            # Letters of one case and digits (an id, a hex string): not base85 data. Base85
            # that drew no symbol by chance still mixes both cases, and is decoded.
            continue
        candidates = [run[offset:] for offset in range(5)]
        candidates += re.findall(r"<~(.*?)~>", run, re.DOTALL)
        for text in candidates:
            for decode in (base64.b85decode, base64.a85decode):
                try:
                    found.append(decode(text))
                except ValueError:
                    continue
    return found


def _escaped_byte(escape: str) -> int:
    code = int(escape[1:], 16) if escape[0] in "xu" else int(escape, 8)
    return code if code < 256 else ord("?")


def _uudecoded(value: str) -> bytes:
    out = b""
    for line in value.splitlines():
        try:
            out += binascii.a2b_uu(line)
        except ValueError:  # not a line of uuencoded data (binascii.Error is one too)
            continue
    return out


def _entity_byte(number: str) -> int:
    code = int(number[1:], 16) if number[:1] in "xX" else int(number)
    return code if code < 256 else ord("?")


def refused_text(value: str, *, words: bool = True, depth: int = 0) -> Message | None:
    """Why a text value is refused (None: it passes).

    `words`: the value is meant for words (a field of a body), so a long run of base64 or
    hex is refused as a blob whatever it decodes to; an address, a header or a query value
    (a cursor, a trace id) is refused only when what it decodes to is an image or a video.
    """
    if _DATA_URI.search(value):
        return Message("holds-data-uri")
    if _CONTROL.search(value):
        return Message("holds-control-characters")
    reason = (
        _base64_reason(value, words, depth)
        or _hex_reason(value, words)
        or _base32_reason(value)
        or _mojibake_reason(value)
    )
    if reason:
        return reason
    for name, data in _decoded_layers(value):
        # Base85 turns any run of zeros into zero bytes: there, only a signature that
        # starts the decoded data counts (short ones would turn up in "b0000313").
        found = starts_like_media(data) if name == "wrapping-base85" else _binary_inside(data)
        if found:
            return Message("holds-wrapped-image", wrapping=Message(name))
        if name == "wrapping-percent" and len(_PERCENT.findall(value)) >= 3 and _not_words(data):
            return Message("holds-percent-binary")
        if depth < MAX_DEPTH and not _not_words(data):  # words inside: wrapped again?
            inner = refused_text(
                data.decode("utf-8", errors="replace"), words=words, depth=depth + 1
            )
            if inner:
                return Message("holds-wrapped", inner=inner, wrapping=Message(name))
    return None
