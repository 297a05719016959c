"""The TOTP enrolment answer's `qrSvg`: an SVG a strict-CSP page can show as an image, and one that
really encodes the otpauth URI (its drawn modules are segno's matrix for that URI)."""
import json
import re
import xml.etree.ElementTree as ET

import azure.functions as func
import segno

from functions.results import answer, qr_svg
from shared.kernel.results import CodeSent, SecretIssued

URI = "otpauth://totp/twostep:alice%40contoso.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=twostep"
SVG_NS = "{http://www.w3.org/2000/svg}"


def drawn_modules(svg: str) -> set[tuple[int, int]]:
    """The dark modules of segno's path (`M x y`, `m dx dy`, `h n`: one horizontal run per `h`), as
    (row, column) without the quiet zone."""
    path = ET.fromstring(svg).find(f"{SVG_NS}path")  # noqa: S314 - our own output
    assert path is not None and path.get("transform") == "scale(4)"
    x = y = 0.0
    dark: set[tuple[int, int]] = set()
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path.get("d")):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            dark.update((int(y - 0.5) - 4, int(x) + i - 4) for i in range(int(a)))
            x += float(a)
    return dark


def test_the_svg_encodes_the_uri():
    matrix = segno.make(URI, error="m").matrix
    expected = {(r, c) for r, row in enumerate(matrix) for c, bit in enumerate(row) if bit}
    assert drawn_modules(qr_svg(URI)) == expected


def test_the_svg_is_standalone_and_inert():
    svg = qr_svg(URI)
    root = ET.fromstring(svg)  # noqa: S314 - our own output; well-formed XML
    assert root.tag == f"{SVG_NS}svg" and not svg.startswith("<?xml")
    assert "<script" not in svg and "style" not in svg and " on" not in svg.lower() and "href" not in svg
    assert {el.tag.removeprefix(SVG_NS) for el in root.iter()} == {"svg", "title", "path"}


def request() -> func.HttpRequest:
    return func.HttpRequest("POST", "http://x/api/v1/users/alice/totp", body=b"")


def test_a_totp_enrolment_answer_carries_the_qr_of_its_uri():
    r = answer(request(), SecretIssued({"challengeId": "c1", "secret": "S", "otpauthUri": URI}))
    body = json.loads(r.get_body())
    assert r.status_code == 201 and body["qrSvg"] == qr_svg(URI) and body["otpauthUri"] == URI


def test_other_answers_carry_no_qr():
    r = answer(request(), CodeSent({"challengeId": "c1"}))
    assert "qrSvg" not in json.loads(r.get_body())
