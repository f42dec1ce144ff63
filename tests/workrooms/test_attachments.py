"""Files on workroom messages: UP-1..UP-7, UP-9 and AC-5 of TEST-PLAN 8.3 and 8.1."""

import io
import os
import re
import struct
import time
import zipfile
import zlib
from datetime import timedelta

import pytest
from PIL import ExifTags, Image
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from portal.accounts.models import AccountKind, Brand
from portal.audit import AuditEvent, verify_all_chains
from portal.extensions import db
from portal.storage import KEY, LocalStorage
from portal.workrooms import services
from portal.workrooms.access import seat_of
from portal.workrooms.models import Attachment, Message, Workroom
from portal.workrooms.uploads import Upload, display_name
from tests import factories
from tests.conftest import Browserless, https_client

ALLOWED_TYPES = {
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "video/mp4",
    "video/quicktime",
    "video/webm",
    "text/plain; charset=utf-8",
    "text/csv; charset=utf-8",
}


# Sample files, generated


def png(size=(8, 8), color="red"):
    """A small PNG."""
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def jpeg_with_gps():
    """A JPEG whose EXIF holds a camera make and a GPS position, plus a comment."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Spyphone"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {1: "N", 2: (48.0, 51.0, 30.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    )
    out = io.BytesIO()
    Image.new("RGB", (16, 8), "blue").save(out, "JPEG", exif=exif, comment=b"home address")
    return out.getvalue()


def mpo():
    """A camera's multi-picture JPEG (two pictures)."""
    out = io.BytesIO()
    first, second = Image.new("RGB", (10, 6), "red"), Image.new("RGB", (10, 6), "blue")
    first.save(out, "MPO", save_all=True, append_images=[second])
    return out.getvalue()


def with_declared_size(data, width, height):
    """A PNG whose header claims another size (its CRC fixed): a pixel flood."""
    patched = bytearray(data)
    patched[16:24] = struct.pack(">II", width, height)
    patched[29:33] = struct.pack(">I", zlib.crc32(bytes(patched[12:29])))
    return bytes(patched)


def gif_declaring(width, height):
    """A GIF whose logical screen and image claim huge dimensions."""
    out = io.BytesIO()
    Image.new("P", (1, 1)).save(out, "GIF")
    data = bytearray(out.getvalue())
    data[6:10] = struct.pack("<HH", width, height)
    descriptor = data.index(b"\x2c")
    data[descriptor + 5 : descriptor + 9] = struct.pack("<HH", width, height)
    return bytes(data)


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PDF_WITH_JS = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /OpenAction 2 0 R >> endobj\n"
    b"2 0 obj << /S /J#61vaScript /JS (app.alert(1)) >> endobj\n%%EOF\n"
)
PDF_HTML_POLYGLOT = b"%PDF-1.4\n<html><script>alert(document.domain)</script></html>\n%%EOF\n"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
MOV = b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + b"\x00" * 64
WEBM = (
    bytes.fromhex("1a45dfa3")
    + b"\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08"
    + b"\x42\x82\x84webm\x42\x87\x81\x02\x42\x85\x81\x02"
    + b"\x00" * 64
)


def zip_bomb_and_slip():
    """A small zip of 20 MB of zeros, a `../x` entry and a symlink entry."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\x00" * 20_000_000)
        archive.writestr("../x", b"escaped")
        link = zipfile.ZipInfo("link")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    return out.getvalue()


# Helpers


@pytest.fixture(autouse=True)
def storage(app, tmp_path, monkeypatch):
    """A private upload folder for each test, so 'nothing stored' can be checked."""
    private = LocalStorage(tmp_path / "uploads")
    monkeypatch.setitem(app.extensions, "storage", private)
    return private


def stored_files(storage):
    """Every file under the upload folder (of any name)."""
    root = storage.root
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def as_user(app, person):
    """A signed-in browser for one of the pair's people."""
    browser = Browserless(https_client(app))
    assert browser.login(person.email).status_code == 302
    return browser


def post_files(browser, workroom_id, files, body="", headers=None, **extra):
    """Post a message with files: [(name, bytes) or (name, bytes, browser content type)]."""
    parts = [(io.BytesIO(f[1]), f[0], *f[2:]) for f in files]
    return browser.post(
        f"/workrooms/{workroom_id}/messages",
        {"body": body, "files": parts, **extra},
        token_from=f"/workrooms/{workroom_id}",
        headers=headers or {},
    )


def attachments(app):
    with app.app_context():
        return db.session.scalars(select(Attachment).order_by(Attachment.id)).all()


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def download(browser, workroom_id, attachment_id):
    return browser.client.get(f"/workrooms/{workroom_id}/attachments/{attachment_id}")


def refused(response, storage, app, text):
    """The composer came back with the refusal next to the file field; nothing was stored."""
    html = response.get_data(as_text=True)
    assert response.status_code == 422, html[:500]
    error = re.search(r'id="message-files-error"[^>]*>([^<]*)<', html)
    assert error, "no error next to the file field"
    assert text in error.group(1).replace("&#39;", "'"), error.group(1)
    assert count(app, Attachment) == 0
    assert count(app, Message) == 0
    assert stored_files(storage) == []
    return html


# Posting and showing files


def test_files_are_stored_under_random_keys_and_shown_on_the_message(app, pair, storage):
    brand = as_user(app, pair.owner)
    response = post_files(
        brand, pair.workroom_id, [("brief.pdf", PDF), ("moodboard.png", png())], body="See files"
    )
    assert response.status_code == 302
    rows = attachments(app)
    assert [(a.filename, a.content_type) for a in rows] == [
        ("brief.pdf", "application/pdf"),
        ("moodboard.png", "image/png"),
    ]
    assert all(KEY.fullmatch(a.storage_key) for a in rows)
    assert {p.name for p in stored_files(storage)} == {a.storage_key for a in rows}
    page = as_user(app, pair.creator).client.get(f"/workrooms/{pair.workroom_id}")
    html = page.get_data(as_text=True)
    section = html[html.index('id="files"') :]
    assert section.index("moodboard.png") < section.index("brief.pdf")  # newest first
    assert "No files shared yet." not in section
    message_html = html[html.index('class="attachments"') :]
    assert f"/workrooms/{pair.workroom_id}/attachments/{rows[0].id}" in message_html


def test_a_message_may_be_files_only(app, pair):
    creator = as_user(app, pair.creator)
    response = post_files(creator, pair.workroom_id, [("notes.txt", b"Shot list\n1. Trail")])
    assert response.status_code == 302
    with app.app_context():
        message = db.session.scalar(select(Message))
        assert message.body_md == ""
        assert [a.filename for a in message.attachments] == ["notes.txt"]


def test_empty_message_without_files_is_still_refused(app, pair):
    response = post_files(as_user(app, pair.creator), pair.workroom_id, [], body="  ")
    assert response.status_code == 422
    assert "Write something first." in response.get_data(as_text=True)


def test_the_composer_sends_multipart_with_a_labelled_file_input(app, pair):
    html = (
        as_user(app, pair.creator)
        .client.get(f"/workrooms/{pair.workroom_id}")
        .get_data(as_text=True)
    )
    form = html[html.index('<form id="composer"') :]
    form = form[: form.index("</form>")]
    assert 'enctype="multipart/form-data"' in form
    assert '<label for="message-files">Attach files</label>' in form
    assert re.search(r'<input[^>]*id="message-files"[^>]*multiple', form)
    assert 'aria-describedby="message-files-hint"' in form


def test_the_workroom_page_shows_the_empty_files_state(app, pair):
    html = as_user(app, pair.owner).client.get(f"/workrooms/{pair.workroom_id}")
    assert "No files shared yet." in html.get_data(as_text=True)


@pytest.mark.parametrize(
    ("name", "data", "served"),
    [
        ("a.png", png(), "image/png"),
        ("a.jpg", jpeg_with_gps(), "image/jpeg"),
        ("camera.jpg", mpo(), "image/jpeg"),
        ("a.gif", gif_declaring(1, 1), "image/gif"),
        ("a.pdf", PDF, "application/pdf"),
        ("a.mp4", MP4, "video/mp4"),
        ("a.mov", MOV, "video/quicktime"),
        ("a.webm", WEBM, "video/webm"),
        ("a.txt", "Plain text, ünïcode\n".encode(), "text/plain; charset=utf-8"),
        ("a.csv", b"name,views\nCora,1200\n", "text/csv; charset=utf-8"),
    ],
)
def test_allowed_types_are_accepted_by_their_bytes(app, pair, name, data, served):
    creator = as_user(app, pair.creator)
    assert (
        post_files(
            creator, pair.workroom_id, [(name, data, "application/octet-stream")]
        ).status_code
        == 302
    )
    (row,) = attachments(app)
    response = download(creator, pair.workroom_id, row.id)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == served


def test_retried_post_stores_its_files_once(app, pair, storage):
    creator = as_user(app, pair.creator)
    for _ in range(2):
        post_files(creator, pair.workroom_id, [("a.png", png())], client_msg_id="retry-1")
    assert count(app, Message) == 1
    assert count(app, Attachment) == 1
    assert len(stored_files(storage)) == 1


def test_viewers_cannot_attach_files(app, pair, storage):
    response = post_files(as_user(app, pair.viewer), pair.workroom_id, [("a.png", png())])
    assert response.status_code == 403
    assert count(app, Attachment) == 0
    assert stored_files(storage) == []


def test_every_file_is_audited_in_the_workroom_chain(app, pair):
    post_files(as_user(app, pair.creator), pair.workroom_id, [("a.png", png()), ("b.pdf", PDF)])
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.chain == f"workroom:{pair.workroom_id}")
            .order_by(AuditEvent.seq)
        ).all()
        assert [e.action for e in events] == [
            "workroom.opened",
            "message.posted",
            "attachment.added",
            "attachment.added",
        ]
        assert events[1].data["files"] == 2
        rows = db.session.scalars(select(Attachment).order_by(Attachment.id)).all()
        assert [e.data["sha256"] for e in events[2:]] == [a.sha256 for a in rows]
        assert verify_all_chains()[0] == {}


# UP-1: the request size limit


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_up1_request_over_max_content_length_is_413_and_stores_nothing(app, pair, storage, htmx):
    creator = as_user(app, pair.creator)
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = post_files(
        creator,
        pair.workroom_id,
        [("big.txt", b"a" * (limit + 1))],
        body="Too big",
        headers={"HX-Request": "true"} if htmx else None,
    )
    assert response.status_code == 413
    assert "Upload too large" in response.get_data(as_text=True)
    assert count(app, Message) == 0
    assert count(app, Attachment) == 0
    assert stored_files(storage) == []


def test_file_over_the_per_file_limit_is_refused_and_the_text_stays(app, pair, storage):
    limit = app.config["MAX_ATTACHMENT_BYTES"]
    response = post_files(
        as_user(app, pair.creator),
        pair.workroom_id,
        [("long.txt", b"a" * (limit + 1))],
        body="Here is my long draft",
    )
    html = refused(response, storage, app, "long.txt is larger than 10 MiB, the limit per file.")
    assert "Here is my long draft</textarea>" in html


def test_at_most_five_files_per_message(app, pair, storage):
    files = [(f"f{n}.txt", b"text") for n in range(6)]
    response = post_files(as_user(app, pair.creator), pair.workroom_id, files, body="Six")
    refused(response, storage, app, "Attach at most 5 files to one message.")


# UP-2: the workroom quota


def test_up2_files_past_the_workroom_quota_are_refused_with_a_message(
    app, pair, storage, monkeypatch
):
    monkeypatch.setitem(app.config, "WORKROOM_QUOTA_BYTES", 3000)
    creator = as_user(app, pair.creator)
    assert post_files(creator, pair.workroom_id, [("one.txt", b"1" * 2000)]).status_code == 302
    response = post_files(
        creator, pair.workroom_id, [("two.txt", b"2" * 2000)], body="Second batch, see file"
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    error = re.search(r'id="message-files-error"[^>]*>([^<]*)<', html).group(1)
    assert "This workroom holds 2 KiB of files and may hold 2.9 KiB" in error
    assert "Second batch, see file</textarea>" in html
    assert count(app, Message) == 1
    assert count(app, Attachment) == 1
    assert len(stored_files(storage)) == 1


def test_up2_quota_counts_every_side_and_note(app, pair, monkeypatch):
    monkeypatch.setitem(app.config, "WORKROOM_QUOTA_BYTES", 3000)
    brand = as_user(app, pair.owner)
    post_files(brand, pair.workroom_id, [("note.txt", b"n" * 2000)], internal="y")
    response = post_files(as_user(app, pair.creator), pair.workroom_id, [("c.txt", b"c" * 2000)])
    assert response.status_code == 422
    assert count(app, Attachment) == 1


# UP-3: types decided by the bytes


HOSTILE = {
    "html": ("x.html", b"<!doctype html><script>alert(1)</script>", "text/html"),
    "svg with script": (
        "x.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "image/svg+xml",
    ),
    "xml-declared svg": (
        "x.svg",
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
        "image/svg+xml",
    ),
    "php named jpg": ("shell.php.jpg", b"<?php system($_GET['c']); ?>", "image/jpeg"),
    "php with %00": ("a.php%00.jpg", b"<?php echo 1; ?>", "image/jpeg"),
    "php with NUL": ("a.php\x00.jpg", b"<?php echo 1; ?>", "image/jpeg"),
    "html renamed png": ("photo.png", b"<html><body>hi</body></html>", "image/png"),
    "html after text": ("notes.txt", b"Hello\n<script>alert(1)</script>", "text/plain"),
    "pdf with javascript": ("report.pdf", PDF_WITH_JS, "application/pdf"),
    "javascript": ("app.js", b"alert(document.cookie)", "text/javascript"),
    "shell script": ("run.sh", b"#!/bin/sh\necho owned\n", "text/plain"),
    "windows exe": ("setup.exe", b"MZ\x90\x00\x03" + b"\x00" * 64, "application/x-msdownload"),
    "elf renamed txt": ("readme.txt", b"\x7fELF\x02\x01\x01" + b"\x00" * 64, "text/plain"),
    "binary junk": ("data.txt", b"\xff\xfe\x00\x01garbage", "text/plain"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_up3_forbidden_or_disguised_types_are_refused(app, pair, storage, case):
    name, data, browser_type = HOSTILE[case]
    response = post_files(
        as_user(app, pair.creator), pair.workroom_id, [(name, data, browser_type)], body="Look"
    )
    html = refused(response, storage, app, "")
    assert "Look</textarea>" in html


def test_up3_pdf_html_polyglot_is_served_only_as_a_pdf_attachment(app, pair):
    creator = as_user(app, pair.creator)
    post_files(creator, pair.workroom_id, [("poly.html", PDF_HTML_POLYGLOT, "text/html")])
    (row,) = attachments(app)
    assert (row.filename, row.content_type) == ("poly.html.pdf", "application/pdf")
    response = download(creator, pair.workroom_id, row.id)
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_up3_real_image_with_a_page_name_gets_its_true_extension(app, pair):
    creator = as_user(app, pair.creator)
    post_files(creator, pair.workroom_id, [("x.html", png(), "text/html")])
    (row,) = attachments(app)
    assert (row.filename, row.content_type) == ("x.html.png", "image/png")


# UP-4: hostile names


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("../../etc/passwd", "passwd.png"),
        ("..\\..\\x", "x.png"),
        ("a" * 1000 + ".png", "a" * 116 + ".png"),
        ("nul\x00byte.png", "nulbyte.png"),
        ("invoice\u202egnp.exe", "invoicegnp.exe.png"),
        ("zero\u200bwidth\u2066.png", "zerowidth.png"),
        ("...", "file.png"),
    ],
)
def test_up4_hostile_names_are_cleaned_for_display_and_never_used_on_disk(
    app, pair, storage, raw, shown
):
    creator = as_user(app, pair.creator)
    assert post_files(creator, pair.workroom_id, [(raw, png())]).status_code == 302
    (row,) = attachments(app)
    assert row.filename == shown
    (path,) = stored_files(storage)
    assert path.name == row.storage_key and path.parent.parent == storage.root
    assert KEY.fullmatch(row.storage_key)
    response = download(creator, pair.workroom_id, row.id)
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "/" not in disposition and "\\" not in disposition and "\u202e" not in disposition


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("C:\\Users\\me\\photo.png", "photo.png"),
        ("/var/www/../../shell.php", "shell.php"),
        ("line\nbreak\r.txt", "linebreak.txt"),
        ("  spaced   out  .txt ", "spaced out .txt"),
        ('quote"<b>|?*.png', "quote__b____.png"),
        ("", "file"),
    ],
)
def test_up4_display_name_drops_folders_and_hidden_characters(raw, shown):
    assert display_name(raw) == shown


# UP-5: download headers


@pytest.mark.parametrize(
    ("name", "data"),
    [("a.png", png()), ("a.pdf", PDF), ("a.mp4", MP4), ("a.txt", b"text"), ("a.csv", b"a,b")],
)
def test_up5_downloads_are_sandboxed_attachments_with_an_allowed_type(app, pair, name, data):
    creator = as_user(app, pair.creator)
    post_files(creator, pair.workroom_id, [(name, data, "text/html")])
    (row,) = attachments(app)
    for person in (pair.creator, pair.owner, pair.viewer):
        response = download(as_user(app, person), pair.workroom_id, row.id)
        assert response.status_code == 200
        assert response.get_data() == data or name.endswith(".png")  # PNGs are re-encoded
        assert response.headers["Content-Disposition"] == f"attachment; filename={name}"
        assert response.headers["Content-Type"] in ALLOWED_TYPES
        assert "html" not in response.headers["Content-Type"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        csp = response.headers["Content-Security-Policy"]
        assert csp.split(";")[0].strip() == "sandbox"
        assert "default-src 'none'" in csp
        assert "no-store" in response.headers["Cache-Control"]
        assert "private" in response.headers["Cache-Control"]


def test_up5_non_ascii_names_use_rfc_6266_encoding(app, pair):
    creator = as_user(app, pair.creator)
    post_files(creator, pair.workroom_id, [("Café brief ✓.pdf", PDF)])
    (row,) = attachments(app)
    disposition = download(creator, pair.workroom_id, row.id).headers["Content-Disposition"]
    assert "filename*=UTF-8''Caf%C3%A9%20brief%20%E2%9C%93.pdf" in disposition


def test_up5_files_of_deleted_messages_are_hidden(app, pair):
    creator = as_user(app, pair.creator)
    post_files(creator, pair.workroom_id, [("gone.pdf", PDF)], body="Oops")
    (row,) = attachments(app)
    creator.post(
        f"/workrooms/{pair.workroom_id}/messages/{row.message_id}/delete",
        {},
        token_from=f"/workrooms/{pair.workroom_id}",
    )
    assert download(creator, pair.workroom_id, row.id).status_code == 404
    html = creator.client.get(f"/workrooms/{pair.workroom_id}").get_data(as_text=True)
    assert "gone.pdf" not in html and "No files shared yet." in html


# UP-6: archives


def test_up6_zip_archives_are_not_accepted(app, pair, storage):
    response = post_files(
        as_user(app, pair.creator),
        pair.workroom_id,
        [("photos.jpg", zip_bomb_and_slip(), "image/jpeg")],
    )
    refused(response, storage, app, "archives (zip, rar, 7z, tar …) are not accepted")


# UP-7: pixel floods and EXIF


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("flood.png", with_declared_size(png((1, 1)), 100_000, 100_000)),
        ("wide.png", with_declared_size(png((1, 1)), 50_000, 1_000)),
        ("flood.gif", gif_declaring(65_535, 65_535)),
    ],
)
def test_up7_images_declaring_absurd_dimensions_are_refused(app, pair, storage, name, data):
    response = post_files(as_user(app, pair.creator), pair.workroom_id, [(name, data)])
    refused(response, storage, app, name)


def test_up7_jpeg_location_and_camera_metadata_are_stripped(app, pair):
    creator = as_user(app, pair.creator)
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    post_files(creator, pair.workroom_id, [("holiday.jpg", original)])
    (row,) = attachments(app)
    served = download(creator, pair.workroom_id, row.id).get_data()
    image = Image.open(io.BytesIO(served))
    assert image.format == "JPEG" and image.size == (16, 8)
    assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert b"Spyphone" not in served and b"home address" not in served
    assert row.size == len(served)


def test_up7_rotated_jpeg_is_stored_upright(app, pair):
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # rotate 90° clockwise to view
    out = io.BytesIO()
    Image.new("RGB", (40, 20), "green").save(out, "JPEG", exif=exif)
    creator = as_user(app, pair.creator)
    post_files(creator, pair.workroom_id, [("tall.jpg", out.getvalue())])
    (row,) = attachments(app)
    image = Image.open(io.BytesIO(download(creator, pair.workroom_id, row.id).get_data()))
    assert image.size == (20, 40)
    assert ExifTags.Base.Orientation not in image.getexif()


def test_up7_png_text_chunks_are_dropped(app, pair):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "GPS 48.85N 2.29E")
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "PNG", pnginfo=info)
    creator = as_user(app, pair.creator)
    post_files(creator, pair.workroom_id, [("a.png", out.getvalue())])
    (row,) = attachments(app)
    assert b"GPS 48.85N" not in download(creator, pair.workroom_id, row.id).get_data()


# UP-9: no orphan files


def test_up9_a_rolled_back_post_removes_the_files_it_wrote(app, pair, storage):
    with app.app_context():
        workroom = db.session.get(Workroom, pair.workroom_id)
        seat = seat_of(workroom.creator, workroom)
        data = png()
        upload = Upload("a.png", "image/png", io.BytesIO(data), len(data))
        services.post_message(seat, workroom.creator, "with a file", uploads=[upload])
        assert len(stored_files(storage)) == 1  # the bytes are written before the row
        db.session.rollback()
    assert stored_files(storage) == []
    assert count(app, Attachment) == 0


def test_up9_a_failing_commit_leaves_no_file_behind(app, pair, storage):
    def refuse_commit(session):
        """Fault injection: the commit of a transaction holding attachments fails."""
        if session.scalar(select(func.count()).select_from(Attachment)):
            raise RuntimeError("database went away")

    creator = as_user(app, pair.creator)
    event.listen(Session, "before_commit", refuse_commit)
    try:
        response = post_files(creator, pair.workroom_id, [("a.png", png())], body="Lost")
    finally:
        event.remove(Session, "before_commit", refuse_commit)
    assert response.status_code == 500
    assert stored_files(storage) == []
    assert count(app, Attachment) == 0 and count(app, Message) == 0


def test_up9_sweeper_removes_old_orphans_only(app, pair, storage):
    post_files(as_user(app, pair.creator), pair.workroom_id, [("kept.png", png())])
    (kept,) = attachments(app)
    old_orphan = storage.save(io.BytesIO(b"crashed before commit")).key
    young_orphan = storage.save(io.BytesIO(b"request still running")).key
    hour_ago = time.time() - 2 * 3600
    for key in (old_orphan, kept.storage_key):
        os.utime(storage.root / key[:2] / key, (hour_ago, hour_ago))
    with app.app_context():
        assert services.sweep_orphan_files(storage, older_than=timedelta(hours=1)) == 1
    assert {p.name for p in stored_files(storage)} == {kept.storage_key, young_orphan}


def test_up9_sweep_command_runs_from_the_cli(app, storage):
    orphan = storage.save(io.BytesIO(b"orphan")).key
    result = app.test_cli_runner().invoke(
        args=["workrooms", "sweep-orphan-uploads", "--older-than-minutes", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "Removed 1 orphan file(s)." in result.output
    assert not storage.exists(orphan)


# AC-5 and notes: files are reached only through their workroom and audience


def test_ac5_ids_of_another_workrooms_files_answer_404(app, pair):
    with app.app_context():
        owner = factories.user(name="Other Owner")
        other_creator = factories.user(kind=AccountKind.creator)
        other = services.open_workroom(
            db.session.get(Brand, owner.memberships[0].brand_id), other_creator, owner
        )
        seat = seat_of(other_creator, other)
        uploads = [Upload(f"secret{n}.txt", "text/plain", io.BytesIO(b"s"), 1) for n in range(4)]
        services.post_message(seat, other_creator, "Secret files", uploads=uploads)
        db.session.commit()
        other_id = other.id
    creator = as_user(app, pair.creator)
    post_files(creator, pair.workroom_id, [("mine.txt", b"mine")])
    rows = attachments(app)
    mine = {a.id for a in rows if a.workroom_id == pair.workroom_id}
    for attachment_id in range(1, max(a.id for a in rows) + 3):
        own_room = download(creator, pair.workroom_id, attachment_id).status_code
        assert own_room == (200 if attachment_id in mine else 404), attachment_id
        assert download(creator, other_id, attachment_id).status_code == 404
    assert download(as_user(app, pair.outsider), pair.workroom_id, min(mine)).status_code == 404


def test_files_on_internal_notes_stay_on_their_side(app, pair):
    brand = as_user(app, pair.manager)
    post_files(brand, pair.workroom_id, [("budget.csv", b"fee,500\n")], internal="y")
    (row,) = attachments(app)
    creator = as_user(app, pair.creator)
    assert download(creator, pair.workroom_id, row.id).status_code == 404
    html = creator.client.get(f"/workrooms/{pair.workroom_id}").get_data(as_text=True)
    assert "budget.csv" not in html
    poll = creator.client.get(f"/workrooms/{pair.workroom_id}/poll?since=0&upto=0")
    assert "budget.csv" not in poll.get_data(as_text=True)
    viewer = as_user(app, pair.viewer)
    assert download(viewer, pair.workroom_id, row.id).status_code == 200
    viewer_html = viewer.client.get(f"/workrooms/{pair.workroom_id}").get_data(as_text=True)
    assert viewer_html.count("budget.csv") == 2  # on the note and in the Files section


def test_workroom_page_query_count_does_not_grow_with_files(app, pair, count_queries):
    creator = as_user(app, pair.creator)
    url = f"/workrooms/{pair.workroom_id}"
    post_files(creator, pair.workroom_id, [("one.txt", b"1")])
    creator.client.get(url)
    with count_queries() as few:
        creator.client.get(url)
    for n in range(8):
        post_files(creator, pair.workroom_id, [(f"f{n}-{k}.txt", b"x") for k in range(3)])
    with count_queries() as many:
        html = creator.client.get(url).get_data(as_text=True)
    assert len(many) == len(few)
    assert html.count("f7-2.txt") == 2
