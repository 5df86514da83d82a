"""File plumbing of the operators: encode local/object-storage files into request parameters
(the ``files`` argument) and stream portal file links to a destination. The encoding itself lives
in :mod:`airflow_provider_bitrix24.client.files`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_bitrix24.catalogue.params import find
from airflow_provider_bitrix24.client import files as client_files

# Catalogue ``upload`` column -> how one file is written into a parameter.
ENCODERS: dict[str, Callable[[Any], Any]] = {
    "pair": client_files.base64_pair,  # [name, base64]
    "filedata": client_files.file_data,  # {"fileData": [name, base64]}
    "base64": lambda source: client_files.base64_string(source),  # bare base64
}


def as_source(path: Any) -> Any:
    """A readable source: a local path string stays a path; a URI becomes an ObjectStoragePath."""
    if isinstance(path, str) and "://" in path:
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(path)
    return path


def as_destination(path: Any) -> Any:
    """Something with ``open(mode)`` for a local path, a URI or an ObjectStoragePath."""
    if hasattr(path, "open"):
        return path
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(os.fspath(path))


def encode_into(params: dict, files: Mapping[str, Any], encoding: str, name_param: str | None = None) -> None:
    """Write every entry of ``files`` (dotted parameter path -> file or list of files) into
    ``params``; a single top-level file also fills ``name_param`` (e.g. ``FILENAME``) if unset."""
    encode = ENCODERS[encoding or "pair"]
    for path, value in files.items():
        sources = value if isinstance(value, (list, tuple)) else None
        encoded = [encode(as_source(s)) for s in sources] if sources is not None else encode(as_source(value))
        *parents, leaf = str(path).split(".")
        container = params
        for name in parents:
            key = find(container, name) or name
            container = container.setdefault(key, {})
        container[find(container, leaf) or leaf] = encoded
        if name_param and sources is None and not parents and find(params, name_param) is None:
            params[name_param] = client_files.source_name(as_source(value))


def download(client: Any, url: str, dest: Any, expected_size: int | None = None) -> int:
    """Stream ``url`` (absolute, or a path on the portal) into ``dest`` through the client's
    transport; return the byte count."""
    return client_files.download_to(client, url, dest, expected_size=expected_size)
