"""What the documentation tells users to import from ``airflow_provider_bitrix24.client``."""

from __future__ import annotations

import airflow_provider_bitrix24.client as client


def test_batch_references_and_their_errors_are_exported():
    from airflow_provider_bitrix24.client import (
        BatchRef,
        Bitrix24PagingError,
        Bitrix24UnsendableValue,
        result_ref,
    )

    assert str(result_ref("add")) == "$result[add]"
    assert isinstance(result_ref("add"), BatchRef)
    assert issubclass(Bitrix24PagingError, client.Bitrix24Error)
    assert issubclass(Bitrix24UnsendableValue, client.Bitrix24ConfigError)


def test_every_name_in_all_is_importable():
    assert {"BatchRef", "Bitrix24PagingError", "Bitrix24UnsendableValue", "result_ref"} <= set(client.__all__)
    assert all(hasattr(client, name) for name in client.__all__)
