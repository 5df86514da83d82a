"""What the client knows about individual methods, kept as data.

* :data:`RESEND_SAFETY` / :func:`is_resend_safe` decide whether a call may be resent after a
  network error or 5xx. The table (``resend_safety.tsv``, built from the doc pages by
  ``scripts/build_resend_safety.py``) marks a method safe only when its page describes a read;
  a method whose page says it changes state (``event.offline.get`` deletes what it returns) and
  any method missing from the table count as unsafe, so a write is never sent twice.
* :data:`PAGING` says how each list method pages: the ID field in records and in filters, the
  key that wraps the records, and whether the ``>ID`` cursor with ``start=-1`` works for it.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType


def _load_resend_safety() -> dict[str, bool]:
    """``method -> safe to resend`` for every documented method (package data)."""
    table = resources.files(__name__.rpartition(".")[0]).joinpath("resend_safety.tsv")
    with table.open(encoding="utf-8") as handle:
        return {row["method"]: row["resend"] == "safe" for row in csv.DictReader(handle, delimiter="\t")}


RESEND_SAFETY: Mapping[str, bool] = MappingProxyType(_load_resend_safety())


def is_resend_safe(method: str) -> bool:
    """True when the docs describe ``method`` as a read, so sending it twice does what once does."""
    return RESEND_SAFETY.get(method.strip().lower(), False)


# The name the transport has always called; same answer.
is_read_method = is_resend_safe


@dataclass(frozen=True)
class PagingSpec:
    """How one list method pages.

    ``record_id``: the ID key inside each returned record; ``filter_id``: the same field as the
    method's filter and order keys; ``result_key``: the key wrapping the records in ``result``
    (``None`` for a plain list); ``id_cursor``: whether ``order by ID`` + ``filter >ID`` +
    ``start=-1`` pages this method (else ``start``/``next`` paging is used).
    """

    record_id: str = "ID"
    filter_id: str = "ID"
    result_key: str | None = None
    id_cursor: bool = True
    filter_param: str = "filter"
    order_param: str = "order"


_UPPER = PagingSpec()
_CAMEL_ITEMS = PagingSpec(record_id="id", filter_id="id", result_key="items")

PAGING: dict[str, PagingSpec] = {
    **{
        name: _UPPER
        for name in (
            "crm.deal.list",
            "crm.lead.list",
            "crm.contact.list",
            "crm.company.list",
            "crm.quote.list",
            "crm.activity.list",
            "crm.requisite.list",
            "crm.requisite.bankdetail.list",
            "crm.timeline.comment.list",
            "crm.deal.recurring.list",
        )
    },
    "crm.item.list": _CAMEL_ITEMS,
    "crm.stagehistory.list": PagingSpec(result_key="items"),
    "rpa.item.list": PagingSpec(record_id="id", filter_id="id", result_key="items"),
    "tasks.task.list": PagingSpec(record_id="id", filter_id="ID", result_key="tasks"),
    "catalog.product.list": PagingSpec(record_id="id", filter_id="id", result_key="products"),
    "sale.order.list": PagingSpec(record_id="id", filter_id="id", result_key="orders"),
    # user.get orders through `sort`/`order` scalars, not an order map: page it with start/next.
    "user.get": PagingSpec(id_cursor=False),
    "user.search": PagingSpec(id_cursor=False),
}

# Methods not in the table page with start/next, reading whatever wrapper the result has.
DEFAULT_PAGING = PagingSpec(id_cursor=False)


def paging_spec(method: str) -> PagingSpec:
    """The paging rules for ``method`` (case-insensitive)."""
    return PAGING.get(method.strip().lower(), DEFAULT_PAGING)
