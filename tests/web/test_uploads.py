"""Digests in: paste, .txt, .md, .docx, .html; size caps (413) and bad files, never a trace."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import docx
import pytest

from archive.web.uploads import UploadError
from tests.web.conftest import WebApp, csrf, make_web_app
from worker.digest.parse import parse_digest
from worker.digest.read import docx_text, html_text
from worker.digest.read import read_digest_bytes as digest_text

DIGEST = Path(__file__).resolve().parents[2] / "examples" / "2021-09-kazakhstan.txt"
SEPTEMBER = DIGEST.read_text("utf-8")


def _preview(web: WebApp, files: dict[str, tuple[str, bytes, str]] | None = None, **data: str):  # type: ignore[no-untyped-def]
    client = web.login("editor")
    return client.post(
        "/digests/preview", data={"csrf_token": csrf(client), **data}, files=files or {}
    )


def test_the_preview_lists_every_parse_problem_before_queueing(web: WebApp) -> None:
    r = _preview(web, {"file": ("2021-09-kazakhstan.txt", DIGEST.read_bytes(), "text/plain")})
    assert r.status_code == 200
    expected = parse_digest(SEPTEMBER, name="2021-09-kazakhstan")
    rows = re.findall(r'<tr class="problem" data-code="([a-z_]+)">', r.text)
    assert rows == [p.code.value for p in expected.problems]
    assert f"{len(expected.incidents)} incidents" in r.text
    assert 'action="/digests"' in r.text  # the queue button, nothing queued yet
    assert (
        web.client()
        .get("/api/digests", headers={"Authorization": f"Bearer {web.editor_token}"})
        .json()
        == []
    )


def test_pasted_text_previews_like_the_file(web: WebApp) -> None:
    r = _preview(web, text=SEPTEMBER, name="2021-09-kazakhstan")
    assert r.status_code == 200
    expected = parse_digest(SEPTEMBER, name="2021-09-kazakhstan")
    assert len(re.findall(r'<tr class="problem"', r.text)) == len(expected.problems)


def test_an_upload_over_the_limit_is_413_with_a_clear_message(tmp_path: Path) -> None:
    web = make_web_app(tmp_path, max_upload_bytes=10_000)
    assert len(DIGEST.read_bytes()) > 10_000
    client = web.client()
    r = client.post(
        "/api/digests/upload",
        files={"file": ("big.txt", DIGEST.read_bytes() * 8, "text/plain")},
        headers={"Authorization": f"Bearer {web.editor_token}"},
    )
    assert r.status_code == 413
    assert "larger than the limit of 10,000 bytes" in r.json()["detail"]
    # just over the cap, within the form overhead: the file's own size is checked too
    r = client.post(
        "/api/digests/upload",
        files={"file": ("big.txt", DIGEST.read_bytes()[:10_500], "text/plain")},
        headers={"Authorization": f"Bearer {web.editor_token}"},
    )
    assert r.status_code == 413
    assert "limit is 10,000 bytes" in r.json()["detail"]
    r = _preview(web, {"file": ("big.txt", DIGEST.read_bytes()[:10_500], "text/plain")})
    assert r.status_code == 413
    assert "limit is 10,000 bytes" in r.text
    r = _preview(web, text=SEPTEMBER[:10_200])
    assert r.status_code == 413


BAD_FILES = [
    ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "png files are not digests"),
    ("digest.pdf", b"%PDF-1.4\n...", ".pdf files are not digests"),
    ("digest.txt", b"September 1\x00\x00\x01\x02 binary" * 10, "binary"),
    ("digest.txt", b"   \n\n", "empty"),
    ("digest.docx", b"PK\x03\x04 not really a zip", "not a readable .docx"),
    ("digest.txt", b"PK\x03\x04" + b"\x00" * 50, "zip or Office file"),
]


@pytest.mark.parametrize(("name", "data", "message"), BAD_FILES)
def test_a_bad_file_gets_a_clear_message(web: WebApp, name: str, data: bytes, message: str) -> None:
    r = _preview(web, {"file": (name, data, "application/octet-stream")})
    assert r.status_code == 400
    assert message in r.text
    assert "Traceback" not in r.text and "Error" not in r.text.split("<main>")[1][:200]
    r = web.client().post(
        "/api/digests/upload",
        files={"file": (name, data, "application/octet-stream")},
        headers={"Authorization": f"Bearer {web.editor_token}"},
    )
    assert r.status_code == 422
    assert message in r.json()["detail"]


def test_nothing_to_preview_is_a_message(web: WebApp) -> None:
    r = _preview(web, text="   ")
    assert r.status_code == 400
    assert "paste a digest or choose a file" in r.text


def test_a_docx_digest_reads_like_the_text(tmp_path: Path) -> None:
    document = docx.Document()
    for line in SEPTEMBER.splitlines():
        document.add_paragraph(line)
    buf = io.BytesIO()
    document.save(buf)
    text = digest_text("2021-09-kazakhstan.docx", buf.getvalue(), max_bytes=10_000_000)
    got = parse_digest(text, name="2021-09-kazakhstan")
    want = parse_digest(SEPTEMBER, name="2021-09-kazakhstan")
    assert len(got.incidents) == len(want.incidents) == 58
    assert [s.canonical_url for s in got.sources] == [s.canonical_url for s in want.sources]


def test_word_footnotes_become_markers_and_footnote_lines() -> None:
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    body = (
        f"<w:document {w}><w:body><w:p><w:r><w:t>September 2, Nur-Sultan, Askar Kayirbek "
        'was sentenced.</w:t></w:r><w:r><w:footnoteReference w:id="1"/></w:r></w:p>'
        "</w:body></w:document>"
    )
    notes = (
        f'<w:footnotes {w}><w:footnote w:id="0"><w:p><w:r><w:t>sep</w:t></w:r></w:p></w:footnote>'
        '<w:footnote w:id="1"><w:p><w:r><w:t>https://rus.azattyq.org/a/31438644.html</w:t>'
        "</w:r></w:p></w:footnote></w:footnotes>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("word/document.xml", body)
        zf.writestr("word/footnotes.xml", notes)
    text = docx_text(buf.getvalue())
    assert text.splitlines() == [
        "September 2, Nur-Sultan, Askar Kayirbek was sentenced.[1]",
        "[1] https://rus.azattyq.org/a/31438644.html",
    ]
    digest = parse_digest(text, name="word", year=2021)
    assert digest.incidents[0].footnotes == [1]
    assert digest.sources[0].canonical_url.endswith("31438644.html")


def test_an_html_digest_keeps_link_targets_and_lines() -> None:
    markup = (
        "<html><head><title>t</title><script>alert(1)</script></head><body>"
        "<p>September 2, Nur-Sultan, Askar Kayirbek was sentenced [1]</p>"
        '<ol><li>[1] <a href="https://rus.azattyq.org/a/31438644.html">Azattyq</a></li></ol>'
        "</body></html>"
    )
    text = html_text(markup)
    assert "alert" not in text
    digest = parse_digest(text, name="html", year=2021)
    assert digest.incidents[0].footnotes == [1]
    assert [s.canonical_url for s in digest.sources] == ["https://rus.azattyq.org/a/31438644.html"]


def test_the_september_digest_as_html_uploads(web: WebApp) -> None:
    lines = "".join(f"<p>{line}</p>" for line in SEPTEMBER.splitlines())
    page = f"<!doctype html><html><body>{lines}</body></html>".encode()
    r = _preview(web, {"file": ("2021-09-kazakhstan.html", page, "text/html")})
    assert r.status_code == 200
    assert "58 incidents" in r.text


def test_windows_1251_text_is_decoded() -> None:
    text = "3 сентября, Алматы, Торегожина Бахытжан [1]\n[1] https://tirek.info/x\n"
    got = digest_text("d.txt", text.encode("cp1251"), max_bytes=10_000)
    assert "Торегожина" in got


def test_upload_error_names_the_file() -> None:
    with pytest.raises(UploadError, match=r"^notes\.odt: \.odt files"):
        digest_text("notes.odt", b"something", max_bytes=100)


# ---------------------------------------------------------------------------
# zip bombs and odd Word XML (issue #15.4, #15.10)

_W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
_BODY = (
    f"<w:document {_W_NS}><w:body><w:p><w:r><w:t>September 2, Nur-Sultan, x.</w:t></w:r>"
    '<w:r><w:footnoteReference w:id="1"/></w:r></w:p></w:body></w:document>'
)


def _docx(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("word/document.xml", _BODY)
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _api_upload(web: WebApp, name: str, data: bytes):  # type: ignore[no-untyped-def]
    return web.client().post(
        "/api/digests/upload",
        files={"file": (name, data, "application/octet-stream")},
        headers={"Authorization": f"Bearer {web.editor_token}"},
    )


def test_a_docx_member_expanding_past_the_cap_is_413_naming_it(web: WebApp) -> None:
    bomb = _docx({"word/media/image1.bin": b"\0" * (40 * 1024 * 1024)})
    assert len(bomb) < 100_000  # 40 MiB of zeros, tens of kilobytes on the wire
    r = _api_upload(web, "bomb.docx", bomb)
    assert r.status_code == 413
    detail = r.json()["detail"]
    assert "member word/media/image1.bin expands to 41,943,040 bytes" in detail
    assert "the limit is 33,554,432 bytes" in detail
    assert web.client().get("/healthz").json() == {"status": "ok"}


def test_a_docx_member_with_a_bomb_ratio_is_refused_before_reading() -> None:
    bomb = _docx({"word/footnotes.xml": b" " * (4 * 1024 * 1024)})
    with pytest.raises(UploadError, match=r"member word/footnotes\.xml expands [\d,]+-fold"):
        docx_text(bomb, "ratio.docx")


def test_a_docx_whose_header_lies_about_its_size_is_not_read_past_it() -> None:
    real = b"<w:footnotes " + _W_NS.encode() + b"/>" + b" " * (5 * 1024 * 1024)
    data = bytearray(_docx({"word/footnotes.xml": real}))
    # claim 1,000 bytes in the central directory: zipfile stops there and the CRC fails
    entry = data.rindex(b"PK\x01\x02")  # the last central directory entry
    assert data[entry + 46 : entry + 46 + 18] == b"word/footnotes.xml"
    data[entry + 24 : entry + 28] = (1000).to_bytes(4, "little")
    with pytest.raises(UploadError, match=r"not a readable \.docx"):
        docx_text(bytes(data), "liar.docx")


def test_xml_entities_are_not_expanded() -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY a "ha">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        + _BODY.replace("x.</w:t>", "&b;</w:t>").encode()
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("word/document.xml", laughs)
    assert "haha" not in docx_text(buf.getvalue())


def test_a_word_footnote_id_that_is_not_a_number_is_a_parse_problem(web: WebApp) -> None:
    notes = (
        f'<w:footnotes {_W_NS}><w:footnote w:id="abc"><w:p><w:r><w:t>https://a.kz/1</w:t>'
        '</w:r></w:p></w:footnote><w:footnote w:id="1"><w:p><w:r><w:t>https://a.kz/2'
        "</w:t></w:r></w:p></w:footnote></w:footnotes>"
    )
    data = _docx({"word/footnotes.xml": notes.encode()})
    r = web.client().post(
        "/api/preview",
        json={"text": docx_text(data), "year": 2021},
        headers={"Authorization": f"Bearer {web.editor_token}"},
    )
    assert r.status_code == 200  # was a 500 (int("abc"))
    r = _api_upload(web, "odd.docx", data)
    assert r.status_code in (202, 503), r.text  # read and parsed; 503: no broker here
    text = docx_text(data)
    assert text.splitlines()[1:] == ["[abc] https://a.kz/1", "[1] https://a.kz/2"]
    problems = parse_digest(text, year=2021).problems
    assert [(p.code.value, p.line) for p in problems] == [("unparsed_line", 2)]


def test_a_year_out_of_range_is_a_422_not_a_500(web: WebApp) -> None:
    auth = {"Authorization": f"Bearer {web.editor_token}"}
    client = web.client()
    for year in (9999, 10**20, 1989, 2101):
        r = client.post(
            "/api/preview", json={"text": "December 30, x [1]", "year": year}, headers=auth
        )
        assert r.status_code == 422, (year, r.text)
        assert r.json()["detail"][0]["loc"] == ["body", "year"]
        r = client.post(
            "/api/digests/upload",
            files={"file": ("d.txt", b"December 30, x [1]\n[1] https://a.kz/\n", "text/plain")},
            data={"year": str(year)},
            headers=auth,
        )
        assert r.status_code == 422, (year, r.text)
    r = client.post("/api/preview", json={"text": "December 30, x [1]", "year": 2100}, headers=auth)
    assert r.status_code == 200
    assert r.json()["incident_list"][0]["date"] == "2100-12-30"


def test_the_preview_parses_in_the_parse_process_under_its_time_limit(web: WebApp) -> None:
    # a limit no job can meet (the process is not even started yet): the page says so,
    # which it could not if the preview parsed on the event loop
    web.app.state.service.parse_pool.timeout = 0.001
    r = _preview(web, text=SEPTEMBER, name="2021-09-kazakhstan")
    assert r.status_code == 400
    assert "took longer than 0.001 s and was stopped" in r.text
    r = web.client().post(
        "/api/preview",
        json={"text": SEPTEMBER},
        headers={"Authorization": f"Bearer {web.editor_token}"},
    )
    assert r.status_code == 422
    assert "took longer than 0.001 s" in r.json()["detail"]
    web.app.state.service.parse_pool.timeout = 60
    assert _preview(web, text=SEPTEMBER, name="2021-09-kazakhstan").status_code == 200
