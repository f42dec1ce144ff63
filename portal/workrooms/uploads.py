"""What an attached file may be: its type sniffed from its bytes, a safe display name, and
JPEG and PNG images re-encoded so their metadata (GPS position, comments) is dropped.

Neither the file's name nor the browser's Content-Type decides anything; the name is only
cleaned for display and given the extension of the type the bytes turned out to be.
"""

import io
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass

import filetype
from PIL import Image, ImageOps

from portal.errors import InvalidState

#: sniffed type -> (served type, extensions a name may keep; the first one is added otherwise)
ALLOWED = {
    "image/png": ("image/png", ("png",)),
    "image/apng": ("image/png", ("png", "apng")),
    "image/jpeg": ("image/jpeg", ("jpg", "jpeg", "jpe", "jfif")),
    "image/gif": ("image/gif", ("gif",)),
    "image/webp": ("image/webp", ("webp",)),
    "application/pdf": ("application/pdf", ("pdf",)),
    "video/mp4": ("video/mp4", ("mp4", "m4v")),
    "video/quicktime": ("video/quicktime", ("mov", "qt")),
    "video/webm": ("video/webm", ("webm",)),
}
#: text is accepted only as these (the bytes decide that it is text, the name which text)
TEXT_EXTENSIONS = {"txt": "text/plain", "md": "text/plain", "csv": "text/csv"}
ARCHIVES = {
    "application/zip",
    "application/x-tar",
    "application/x-rar-compressed",
    "application/gzip",
    "application/x-bzip2",
    "application/x-7z-compressed",
    "application/x-xz",
    "application/zstd",
    "application/x-lz4",
    "application/x-lzip",
    "application/x-lzop",
    "application/x-compress",
    "application/x-brotli",
    "application/vnd.ms-cab-compressed",
    "application/x-unix-archive",
    "application/x-deb",
    "application/x-rpm",
    "application/epub+zip",
}
#: what the file picker offers (a hint only: the server decides by the bytes)
ACCEPT = ",".join(
    [*sorted({served for served, _ in ALLOWED.values()}), "text/plain", "text/csv"]
    + [f".{extension}" for extension in TEXT_EXTENSIONS]
)
ACCEPTED = "images (PNG, JPEG, GIF, WebP), PDF, video (MP4, MOV, WebM), plain text or CSV"
PILLOW_FORMATS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}
# Text that a browser (or an editor) could take for a page, an image with script or a script.
MARKUP = ("<script", "<html", "<svg", "<?php", "<?xml", "<!doctype", "<iframe", "<object", "<embed")
# PDF names that run code or carry other files.
PDF_ACTIVE = {
    b"/javascript",
    b"/js",
    b"/launch",
    b"/embeddedfile",
    b"/embeddedfiles",
    b"/richmedia",
}
PDF_NAME = re.compile(rb"/[^\s/\[\]()<>{}%]+")
PDF_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
# Control, format (bidi overrides, zero-width), surrogate, private and unassigned characters.
HIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
NAME_LIMIT = 120
ORIENTATION = 0x0112


class UploadRefused(InvalidState):
    """A file that may not be attached; the message names it and says why."""


@dataclass
class Upload:
    """A checked file, ready to store: safe display name, allowed type, bytes at offset 0."""

    filename: str
    content_type: str
    stream: object  # a seekable binary file
    size: int


def human_size(size):
    """1536 -> '1.5 KiB'."""
    units = ("bytes", "KiB", "MiB", "GiB")
    power = 0
    while size >= 1024 and power < len(units) - 1:
        size, power = size / 1024, power + 1
    if power == 0:
        return f"{size} bytes"
    return f"{size:.1f}".removesuffix(".0") + f" {units[power]}"


def _shorten(name, limit=NAME_LIMIT):
    """At most `limit` characters, keeping a short extension."""
    if len(name) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if dot and stem and len(ext) <= 10:
        return stem[: limit - len(ext) - 1].rstrip(" .") + "." + ext
    return name[:limit].rstrip(" .")


def display_name(raw):
    """A filename safe to show and to offer for download: no folders, no hidden characters."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in HIDDEN)
    name = re.sub(r'[<>:"|?*]', "_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    return _shorten(name) or "file"


def _extension(name):
    """The lower-case extension of a name, or ''."""
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def _with_extension(name, extensions):
    """The name, ending in one of the type's extensions."""
    if _extension(name) in extensions:
        return name
    return _shorten(name, NAME_LIMIT - len(extensions[0]) - 1) + "." + extensions[0]


def _size(stream):
    """The length of a seekable stream, which is left at offset 0."""
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size


def _text_type(name, stream):
    """text/plain or text/csv for UTF-8 text without NULs or markup; refused otherwise."""
    raw = stream.read()
    stream.seek(0)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        raise UploadRefused(f"{name}: this kind of file is not accepted. Attach {ACCEPTED}.")
    start = text.lstrip("\ufeff \t\r\n").lower()
    if start.startswith(("<", "#!")) or any(marker in start for marker in MARKUP):
        raise UploadRefused(
            f"{name} looks like a web page, an SVG image or a script; these are not accepted."
        )
    extension = _extension(name)
    if extension and extension not in TEXT_EXTENSIONS:
        raise UploadRefused(
            f"{name}: text is accepted only as plain text (.txt, .md) or CSV (.csv)."
        )
    return TEXT_EXTENSIONS.get(extension, "text/plain")


def _check_pdf(name, stream):
    """Refuse PDFs whose (uncompressed) names run code or embed files."""
    raw = stream.read()
    stream.seek(0)
    for match in PDF_NAME.finditer(raw):
        token = PDF_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), match.group()).lower()
        if token in PDF_ACTIVE:
            raise UploadRefused(
                f"{name}: PDFs with scripts, actions or embedded files are refused."
            )


def _check_image(name, stream, content_type, max_pixels):
    """Refuse absurd dimensions before decoding; JPEG and PNG come back re-encoded."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(stream, formats=[PILLOW_FORMATS[content_type]])
            width, height = image.size
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise UploadRefused(f"{name}: the image is far too large.") from None
        except (OSError, SyntaxError, ValueError):
            raise UploadRefused(f"{name} could not be read as an image.") from None
    if width * height > max_pixels:
        raise UploadRefused(
            f"{name} is {width:,} by {height:,} pixels; images may have at most "
            f"{max_pixels / 1_000_000:g} million pixels."
        )
    if content_type not in ("image/jpeg", "image/png"):
        stream.seek(0)
        return stream
    try:
        return _reencode(image, content_type)
    except (OSError, SyntaxError, ValueError):
        raise UploadRefused(f"{name} could not be read as an image.") from None


def _reencode(image, content_type):
    """The image saved again without EXIF, XMP or comments (orientation applied first)."""
    out = io.BytesIO()
    if content_type == "image/png":
        image.save(out, "PNG", save_all=bool(getattr(image, "is_animated", False)))
    else:  # JPEG, or a camera's multi-picture JPEG (MPO): its first picture
        icc = image.info.get("icc_profile")
        if image.format == "JPEG" and image.getexif().get(ORIENTATION, 1) == 1:
            image.save(out, "JPEG", quality="keep", icc_profile=icc, comment=b"")
        else:
            upright = ImageOps.exif_transpose(image)
            upright.save(out, "JPEG", quality=95, icc_profile=icc, comment=b"")
    out.seek(0)
    return out


def inspect(file, *, max_bytes, max_pixels):
    """Check one uploaded file (a Werkzeug FileStorage) and return it as an Upload."""
    name = display_name(file.filename)
    stream = file.stream
    size = _size(stream)
    if size == 0:
        raise UploadRefused(f"{name} is empty.")
    if size > max_bytes:
        raise UploadRefused(f"{name} is larger than {human_size(max_bytes)}, the limit per file.")
    guess = filetype.guess(stream.read(8192))
    stream.seek(0)
    if guess is None:
        content_type = _text_type(name, stream)
        extensions = tuple(e for e, t in TEXT_EXTENSIONS.items() if t == content_type)
    elif guess.mime in ARCHIVES:
        raise UploadRefused(
            f"{name}: archives (zip, rar, 7z, tar …) are not accepted; attach the files themselves."
        )
    elif guess.mime not in ALLOWED:
        raise UploadRefused(
            f"{name}: this kind of file ({guess.extension}) is not accepted. Attach {ACCEPTED}."
        )
    else:
        content_type, extensions = ALLOWED[guess.mime]
    if content_type in PILLOW_FORMATS:
        stream = _check_image(name, stream, content_type, max_pixels)
    elif content_type == "application/pdf":
        _check_pdf(name, stream)
    return Upload(_with_extension(name, extensions), content_type, stream, _size(stream))
