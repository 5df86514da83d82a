"""A 200 MB file through the two-step upload and back: byte-identical, and memory stays flat.

The emulator runs in this process, so the peak RSS growth measured here covers both sides of
the transfer (client and portal). The file is generated in tmp_path and hashed as it is written.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time

import psutil
import pytest

from airflow_provider_bitrix24.operators.disk import DiskDownloadOperator, DiskUploadOperator

SIZE = 200 * 1024 * 1024
MAX_GROWTH = 50 * 1024 * 1024


class PeakRss:
    """Samples this process's resident set size in a thread and keeps the maximum."""

    def __init__(self, interval: float = 0.005) -> None:
        self.proc = psutil.Process()
        self.interval = interval
        self.peak = self.baseline = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRss:  # noqa: PYI034
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def _write_random_file(path, size: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(1 << 20)
    with open(path, "wb") as fh:
        for i in range(size // len(block)):
            chunk = i.to_bytes(8, "little") + block[8:]  # every MiB differs
            digest.update(chunk)
            fh.write(chunk)
    return digest.hexdigest()


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.timeout(120)
def test_200mb_round_trip_is_identical_and_memory_stays_flat(webhook_conn, emu, root_folder, tmp_path):
    src = tmp_path / "big.bin"
    expected = _write_random_file(src, SIZE)
    dest = tmp_path / "back.bin"
    started = time.monotonic()
    with PeakRss() as memory:
        record = DiskUploadOperator(task_id="up", source=str(src), target_id=root_folder).execute({})
        result = DiskDownloadOperator(task_id="down", file_id=record["ID"], output_path=str(dest)).execute({})
    elapsed = time.monotonic() - started
    print(f"200 MB round trip: {elapsed:.1f} s, peak RSS growth {memory.growth / 2**20:.1f} MiB")

    assert [r.method for r in emu.requests if r.method in ("disk.folder.uploadfile", "upload")] == [
        "disk.folder.uploadfile",
        "upload",
    ]
    assert int(record["SIZE"]) == SIZE and result["size"] == SIZE
    assert _sha256(dest) == expected
    assert memory.growth < MAX_GROWTH, f"peak RSS grew by {memory.growth / 2**20:.1f} MiB"
