"""What the client knows about individual methods, kept as data.

* :func:`is_read_method` decides whether a call may be resent after a network error or 5xx
  (reads are safe to repeat; a write is never sent twice).
* :data:`PAGING` says how each list method pages: the ID field in records and in filters, the
  key that wraps the records, and whether the ``>ID`` cursor with ``start=-1`` works for it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Last segment of a method name (``crm.deal.list`` -> ``list``) that only reads data.
READ_VERBS = frozenset(
    {
        "get",
        "list",
        "fields",
        "search",
        "current",
        "info",
        "count",
        "version",
        "getlist",
        "getfields",
        "getchildren",
        "getversions",
        "getbyid",
        "getforentity",
        "instances",
        "types",
        "userfieldtypes",
    }
)
# Whole method names that read but whose last segment does not say so.
READ_METHODS = frozenset({"profile", "methods", "scope", "server.time", "access.name", "user.access"})


def is_read_method(method: str) -> bool:
    """True when calling ``method`` twice has the same effect as calling it once."""
    name = method.strip().lower()
    if name in READ_METHODS:
        return True
    return name.rsplit(".", 1)[-1] in READ_VERBS


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
