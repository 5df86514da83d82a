"""Units of client/files.py that need no portal: encoding, size guards, streamed bodies."""

from __future__ import annotations

import base64
import io
import json

import pytest

from airflow_provider_bitrix24.client import files
from airflow_provider_bitrix24.emulator.handlers.disk import _MultipartFile


def _drain(body) -> bytes:
    out = b"".join(iter(lambda: body.read(16384), b""))
    assert len(out) == len(body)
    return out


def _parse(raw: bytes, boundary: bytes, field: str = "file"):
    sink = io.BytesIO()

    class Keep(io.BytesIO):
        def close(self):
            if not self.closed:
                sink.write(self.getvalue())
            super().close()

    found = _MultipartFile(io.BytesIO(raw), len(raw), boundary).read_file(field, Keep)
    return found, sink.getvalue()


@pytest.mark.parametrize("kind", ["bytes", "path", "stream", "opener"])
def test_base64_pair_reads_every_kind_of_source(tmp_path, kind):
    data = bytes(range(256)) * 10
    path = tmp_path / "report.pdf"
    path.write_bytes(data)

    class Opener:  # the ObjectStoragePath shape: .name and .open("rb")
        name = "report.pdf"

        def open(self, mode):
            return open(path, mode)

    source = {"bytes": data, "path": str(path), "stream": io.BytesIO(data), "opener": Opener()}[kind]
    name, b64 = files.base64_pair(source, "report.pdf" if kind in ("bytes", "stream") else None)
    assert name == "report.pdf"
    assert base64.b64decode(b64) == data


def test_size_guard_refuses_before_encoding(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 101)
    with pytest.raises(files.Bitrix24FileTooLarge, match="101 bytes"):
        files.base64_pair(path, max_bytes=100)
    assert files.file_data(b"abc", "a.txt", max_bytes=3) == {"fileData": ["a.txt", "YWJj"]}


def test_multipart_body_round_trips_through_the_emulator_parser():
    data = b"--not-a-boundary\r\n" * 5000 + b"\r\n--"
    body, ctype = files.multipart_body("file", 'we"ird name.bin', io.BytesIO(data), len(data))
    raw = _drain(body)
    (name, size), got = _parse(raw, ctype.split("boundary=")[1].encode())
    assert size == len(data) and got == data
    assert name == "we%22ird name.bin"


def test_json_body_with_file_equals_the_inline_json():
    data = bytes(range(256)) * 4099  # not a multiple of the base64 read size
    body = files.json_body_with_file(
        {"id": 7, "fileContent": ["a.bin", None]}, ("fileContent", 1), io.BytesIO(data), len(data)
    )
    doc = json.loads(_drain(body))
    assert doc["id"] == 7 and doc["fileContent"][0] == "a.bin"
    assert base64.b64decode(doc["fileContent"][1]) == data


def test_a_source_that_shrinks_while_sent_is_an_error():
    body, _ = files.multipart_body("file", "a", io.BytesIO(b"short"), 10)
    with pytest.raises(files.Bitrix24Error, match="ended 5 bytes early"):
        _drain(body)


def test_download_headers_follow_the_docs():
    headers = files.download_headers("https://portal.example")
    assert headers["Referer"] == "https://portal.example/"
    assert headers["User-Agent"] and headers["Accept"] == "*/*" and "Accept-Language" in headers


def test_transport_errors_hide_the_signed_query(tmp_path):
    import socket

    from airflow_provider_bitrix24.client import Bitrix24Client, WebhookAuth

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/rest/download.json?auth=abcdef123456&token=disk%7Csecretpayload"
    client = Bitrix24Client(url, WebhookAuth(1, "code-abcdef"), rate_limit=None, sleep=lambda s: None)
    with pytest.raises(files.Bitrix24DownloadError) as caught:
        files.download_to(client, url, tmp_path / "x.bin", timeout=(1, 1))
    assert "abcdef123456" not in str(caught.value) and "secretpayload" not in str(caught.value)
    assert caught.value.__cause__ is None and not (tmp_path / "x.bin").exists()
    with pytest.raises(files.Bitrix24TransportError) as caught:
        files.post_multipart(client, url, field="file", source=b"abc", filename="a", timeout=(1, 1))
    assert "secretpayload" not in str(caught.value)


def test_emulator_multipart_parser_finds_the_field_among_others():
    import requests

    data = b"\r\n--x" * 1000 + b"payload"
    prepared = requests.Request(
        "POST", "http://localhost/", data={"before": "1", "after": "2"}, files={"file": ("a.bin", data)}
    ).prepare()
    boundary = prepared.headers["Content-Type"].split("boundary=")[1].encode()
    (name, size), got = _parse(prepared.body, boundary)
    assert (name, size, got) == ("a.bin", len(data), data)
    assert _parse(prepared.body, boundary, "missing")[0] is None


def test_emulator_multipart_parser_refuses_a_truncated_body():
    from airflow_provider_bitrix24.emulator.registry import ApiError

    body, ctype = files.multipart_body("file", "a.bin", io.BytesIO(b"z" * 5000), 5000)
    raw = _drain(body)[:-100]
    with pytest.raises(ApiError, match="truncated"):
        _parse(raw, ctype.split("boundary=")[1].encode())
