from __future__ import annotations

import codecs

import pytest

from flows.transform.decode import DecodeError, decode_html, looks_binary

ZH_CN = (
    "<p>美国国务院发言人表示，美国和中国高级官员周一在华盛顿举行会议期间发出了这一邀请。"
    "这些官员进行了坦诚、实质性和富有成效的讨论。</p>"
)
ZH_TW = (
    "<p>美國國務院發言人表示，美國和中國高級官員週一在華盛頓舉行會議期間發出了這一邀請。"
    "這些官員進行了坦誠、實質性和富有成效的討論。</p>"
)


def test_gbk_without_declaration_is_detected() -> None:
    text, encoding = decode_html(ZH_CN.encode("gbk"))
    assert text == ZH_CN
    assert encoding == "gb18030"


def test_big5_without_declaration_is_detected() -> None:
    text, _ = decode_html(ZH_TW.encode("big5"))
    assert text == ZH_TW


def test_http_charset_beats_meta_and_wrong_meta_is_not_trusted() -> None:
    page = '<meta charset="utf-8">' + ZH_CN
    assert decode_html(page.encode("gbk"), http_charset="gbk")[0] == page
    assert decode_html(page.encode("gbk"))[0] == page  # declared utf-8 fails: detector decides


def test_bom_wins() -> None:
    assert decode_html(codecs.BOM_UTF8 + "<p>é</p>".encode())[0] == "<p>é</p>"
    assert decode_html(codecs.BOM_UTF16_LE + "<p>é</p>".encode("utf-16-le"))[0] == "<p>é</p>"


def test_binary_is_recognised() -> None:
    assert looks_binary(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert not looks_binary(b"<p>plain</p>")


def test_undecodable_bytes_raise() -> None:
    noise = bytes(range(128, 256)) * 40
    with pytest.raises(DecodeError):
        decode_html(noise)


def test_a_utf8_page_with_a_stray_legacy_byte_stays_utf8() -> None:
    """Declared UTF-8, valid but for one cp1252 apostrophe pasted in: browsers keep UTF-8 and
    replace the stray byte; a detector would turn every other character into mojibake."""
    text = "<meta charset='utf-8'><p>“Choose your own adventure” – the café’s menu</p>"
    data = text.encode("utf-8") + b"<p>it\x92s here</p>"
    decoded, encoding = decode_html(data)
    assert encoding == "utf-8" and "“Choose your own adventure” – the café’s" in decoded
    assert "it\ufffds here" in decoded


def test_a_page_mislabelled_utf8_goes_to_the_detector() -> None:
    """Declared UTF-8 but GBK throughout: most of it is not UTF-8, so it is not taken as such."""
    sentence = "中国外交部长王毅受邀访问美国。"
    data = ("<meta charset='utf-8'><p>" + sentence * 20 + "</p>").encode("gbk")
    decoded, encoding = decode_html(data)
    assert "中国外交部长王毅受邀访问美国" in decoded and encoding != "utf-8"
