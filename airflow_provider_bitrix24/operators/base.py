"""Shared machinery of the catalogue operators.

Every catalogue action is a subclass of :class:`Bitrix24ActionOperator` that names its
``action_id``; the catalogue row supplies the method(s), the parameter contract and the flags,
so a plain action needs no code of its own. Actions that chain calls or move files override
:meth:`Bitrix24ActionOperator.run` (and, rarely, ``prepare``).

Order of work in ``execute``: render (Airflow) -> decode JSON strings and encode ``files`` ->
check the parameters against the catalogue row and the methods' documented names -> refuse
app-only actions on a webhook -> log a deprecation once -> call -> mask signed links in the
result. Nothing is sent before the checks pass.

Signed file links (``DOWNLOAD_URL``, ``downloadUrlMachine``, ``pdfUrlMachine`` ...) carry the
caller's access token, so ``execute`` masks them in every result, and :func:`write_json_lines`
in every row it writes: no action (nor the direct-call operators) can put one in XCom or a file.
Download actions stream the link themselves before that point.

Mapping: ``Op.partial(...).expand(...)`` validates argument names against the ``__init__``
signatures. The catalogue's selector argument (``entity``, ``closed_by``...) arrives through
``**kwargs``, so every row class with a selector gets an ``__init__`` that declares it.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_bitrix24.catalogue import Action, get_action, methods
from airflow_provider_bitrix24.catalogue.params import ParameterError, check, decode_json, find
from airflow_provider_bitrix24.client.errors import (
    Bitrix24ConfigError,
    Bitrix24NotSupported,
    Bitrix24WriteMayHaveSucceeded,
    scrub,
)
from airflow_provider_bitrix24.client.files import mask_links
from airflow_provider_bitrix24.operators import _files

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "bitrix24_default"

_deprecations_logged: set[str] = set()
_deprecations_lock = threading.Lock()


def log_deprecation_once(action: Action) -> None:
    """Name the documented successor of a deprecated action, once per process."""
    with _deprecations_lock:
        if action.action_id in _deprecations_logged:
            return
        _deprecations_logged.add(action.action_id)
    successor = f"; its documented successor is {action.successor}" if action.successor else ""
    log.warning(
        "Bitrix24 action %s uses %s, which Bitrix24 has stopped developing%s.",
        action.action_id,
        ", ".join(action.methods),
        successor,
    )


def describe(action: Action) -> str:
    """A short description of an action for its operator's docstring."""
    calls = ", then ".join(" or ".join(step) for step in action.steps)
    lines = [f"{action.resource}: {action.action} (catalogue action ``{action.action_id}``), calls {calls}."]
    if action.required_text:
        lines.append(f"Required parameters: ``{action.required_text}``.")
    if action.selector:
        lines.append(
            f"``{action.selector}`` picks the method: {', '.join(action.choices)} (default {action.choices[0]})."
        )
    if action.flags:
        lines.append(f"Flags: {', '.join(sorted(action.flags))}.")
    lines.append("Arguments are those of :class:`Bitrix24ActionOperator`.")
    return "\n\n".join(lines)


def with_selectors(signature: inspect.Signature, names: Iterable[str]) -> inspect.Signature:
    """``signature`` with optional keyword-only ``names`` added before its ``**kwargs``."""
    params = list(signature.parameters.values())
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation="str | None")
        for name in names
        if name not in signature.parameters
    ]
    at = next((i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD), len(params))
    return signature.replace(parameters=[*params[:at], *added, *params[at:]])


def declare_selector(cls: Any, selector: str, choices: Sequence[str]) -> None:
    """Give ``cls`` an ``__init__`` whose signature names ``selector`` (unless one already does).

    Airflow's ``partial``/``expand`` accept only names found in an ``__init__`` signature of the
    class's MRO; the wrapper passes the argument on unchanged through ``**kwargs``. A declared
    name is also filled from the DAG's ``default_args``: a value there that is not one of the
    row's ``choices`` (``default_args={"mode": "reschedule"}`` meant for sensors) is ignored.
    """
    original = cls.__init__
    signature = inspect.signature(original)
    if selector in signature.parameters:
        return

    def __init__(self: Any, **kwargs: Any) -> None:
        defaults = kwargs.get("default_args") or {}
        value = kwargs.get(selector)
        if selector in defaults and value is defaults[selector] and value not in choices:
            del kwargs[selector]
        original(self, **kwargs)

    _install_init(cls, __init__, with_selectors(signature, [selector]), original)


def declare_arguments(cls: Any, names: Sequence[str]) -> None:
    """Name ``names`` in the signature of ``cls.__init__`` (for ``partial``/``expand``), passing
    every argument on unchanged."""
    original = cls.__init__

    def __init__(self: Any, **kwargs: Any) -> None:
        original(self, **kwargs)

    _install_init(cls, __init__, with_selectors(inspect.signature(original), names), original)


def _install_init(cls: Any, init: Any, signature: inspect.Signature, original: Any) -> None:
    init.__signature__ = signature
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = getattr(original, "__doc__", None)
    cls.__init__ = init


def _all_selectors() -> list[str]:
    from airflow_provider_bitrix24.catalogue import actions

    return sorted({action.selector for action in actions() if action.selector})


def not_supported(action: Action) -> Bitrix24NotSupported:
    return Bitrix24NotSupported(
        "NOT_SUPPORTED",
        f"action {action.action_id!r} ({action.resource}: {action.action}) is not supported by the "
        "Bitrix24 REST API: no documented method offers it",
    )


class WriteNotRetried(Bitrix24WriteMayHaveSucceeded, AirflowFailException):
    """A write that may have been applied fails the task *without* Airflow's retries: a retry
    would send it again without the check its message asks for."""

    @classmethod
    def from_error(cls, error: Bitrix24WriteMayHaveSucceeded) -> WriteNotRetried:
        hint = f"{error.hint}. Airflow does not retry this task for the same reason" if error.hint else None
        return cls(error.code, error.description, error.method, error.http_status, hint=hint)


class Bitrix24ActionOperator(BaseOperator):
    """Run one catalogue action against a Bitrix24 portal.

    :param parameters: the REST parameters of the action (a dict, or a JSON string). Values of
        object/array parameters such as ``filter``, ``order``, ``select`` or ``fields`` may also be
        JSON strings. Named ``parameters`` because ``params`` is Airflow's own DAG-params argument.
    :param bitrix24_conn_id: Airflow connection of the portal.
    :param files: parameter path -> file (local path or ``ObjectStoragePath``, or a list of them);
        each file is base64-encoded into that parameter in the shape the action documents, e.g.
        ``{"fields.FILES": ["/tmp/a.pdf"]}``. A dotted path reaches inside objects.
    :param output_path: list actions: write every row as JSON Lines there and return
        ``{"path", "count"}`` instead of the rows; download actions: where the file goes.
    :param limit: list actions: stop after this many rows.
    :param continue_on_fail: on any error return ``{"error", "resource", "timestamp"}`` and succeed.

    Actions with alternative methods also accept the argument named by the catalogue row's
    ``selector`` (``entity``, ``target``, ``mode``, ``closed_by``...), kept in ``self.variant``.
    """

    action_id: ClassVar[str] = ""
    template_fields: Sequence[str] = ("parameters", "files", "output_path", "limit", "variant")

    template_fields_renderers = {"parameters": "json", "files": "json"}
    ui_color = "#2fc6f6"

    def __init_subclass__(cls, declares: Sequence[str] = (), **kwargs: Any) -> None:
        """One-line action classes get a docstring from their catalogue row and, when the row has
        a selector, an ``__init__`` that declares it (runs before Airflow's metaclass wraps it).
        ``declares`` names further arguments the class accepts through ``**kwargs``."""
        super().__init_subclass__(**kwargs)
        if declares:
            declare_arguments(cls, declares)
        action_id = cls.__dict__.get("action_id")
        if not action_id:
            return
        action = get_action(action_id)
        if not cls.__dict__.get("__doc__"):
            cls.__doc__ = describe(action)
        if action.selector:
            declare_selector(cls, action.selector, action.choices)

    def __init__(
        self,
        *,
        parameters: Mapping[str, Any] | str | None = None,
        bitrix24_conn_id: str = DEFAULT_CONN_ID,
        files: Mapping[str, Any] | None = None,
        output_path: Any = None,
        limit: int | str | None = None,
        continue_on_fail: bool = False,
        **kwargs: Any,
    ) -> None:
        if not type(self).action_id:
            raise TypeError(f"{type(self).__name__} must set action_id")
        action = get_action(type(self).action_id)
        if action.not_offered:
            raise not_supported(action)
        self.variant = kwargs.pop(action.selector, None) if action.selector else None
        super().__init__(**kwargs)
        self.parameters = parameters if parameters is not None else {}
        self.bitrix24_conn_id = bitrix24_conn_id
        self.files = files
        self.output_path = output_path
        self.limit = limit
        self.continue_on_fail = continue_on_fail

    # ------------------------------------------------------------------ catalogue row

    @property
    def action(self) -> Action:
        return get_action(self.action_id)

    @cached_property
    def hook(self) -> Bitrix24Hook:
        from airflow_provider_bitrix24.hooks.bitrix24 import Bitrix24Hook

        return Bitrix24Hook(bitrix24_conn_id=self.bitrix24_conn_id)

    # ------------------------------------------------------------------ execution

    def execute(self, context: Context) -> Any:
        try:
            params = self.prepare()
            hook = self.hook
            self.check_auth(hook, params)
            if self.action.deprecated:
                log_deprecation_once(self.action)
            self.log.info(
                "Bitrix24 action %s: %s", self.action_id, " -> ".join("|".join(s) for s in self.action.steps)
            )
            return mask_links(self.run(hook, params))
        except Bitrix24WriteMayHaveSucceeded as exc:
            if self.continue_on_fail:
                return self.failure_record(exc)
            raise WriteNotRetried.from_error(exc) from None
        except Exception as exc:
            if not self.continue_on_fail or _is_control_flow(exc):
                raise
            return self.failure_record(exc)

    def prepare(self) -> dict:
        """Rendered ``parameters`` decoded, files encoded, checked; raises before any request."""
        action = self.action
        params = decode_json(action.action_id, "parameters", self.parameters)
        if not isinstance(params, Mapping):
            raise ParameterError(
                action.action_id, f"parameters must be an object, got {type(params).__name__}"
            )
        params = dict(params)
        self._check_options()
        if self.files:
            name_param = "FILENAME" if any(p.name == "FILENAME" for p in action.optional.params()) else None
            _files.encode_into(params, self.files, action.upload, name_param)
        checked = check(
            action.action_id,
            params,
            action.required,
            action.optional,
            action.documented_params(),
            action.doc(),
        )
        for warning in checked.warnings:
            log.warning("%s: %s", action.action_id, warning)
        return checked.params

    def _check_options(self) -> None:
        action = self.action
        if action.selector and self.variant is not None and self.variant not in action.choices:
            raise ParameterError(
                action.action_id,
                f"{action.selector} must be one of {', '.join(action.choices)} (got {self.variant!r})",
            )
        if self.limit not in (None, ""):
            try:
                self.limit = int(self.limit)
            except (TypeError, ValueError):
                raise ParameterError(
                    action.action_id, f"limit must be a whole number (got {self.limit!r})"
                ) from None
        else:
            self.limit = None
        if action.binary_down and not self.output_path:
            raise ParameterError(
                action.action_id, "output_path is required: it names where the file is written"
            )
        pages = self.returns_every_row()
        if self.limit is not None and not pages:
            raise ParameterError(action.action_id, f"limit applies to list actions only; {self._one_reply()}")
        if self.output_path and not (pages or action.binary_down):
            raise ParameterError(
                action.action_id,
                f"output_path applies to list and download actions only; {self._one_reply()}",
            )

    def returns_every_row(self) -> bool:
        """Whether this run reads a list to the end (where ``limit`` and ``output_path`` apply)."""
        return self.action.paged

    def _one_reply(self) -> str:
        return f"{', '.join(self.action.methods)} returns one reply, not pages of rows"

    def check_auth(self, hook: Bitrix24Hook, params: Mapping[str, Any]) -> None:
        """Refuse, before any request, what the connection's auth type cannot do."""
        action = self.action
        if action.app_only and hook.auth_type == "webhook":
            raise Bitrix24ConfigError(
                "APP_ONLY",
                f"action {action.action_id!r} ({', '.join(action.methods)}) needs an OAuth application: "
                "Bitrix24 accepts it only with an installed application's token, not an incoming webhook. "
                f"Use an oauth2 connection instead of {self.bitrix24_conn_id!r}",
            )
        client_id = find(params, "CLIENT_ID")
        if action.webhook_client_id and hook.auth_type == "webhook" and not (client_id and params[client_id]):
            raise ParameterError(
                action.action_id,
                "missing parameter 'CLIENT_ID': over an incoming webhook the bot methods need the "
                "CLIENT_ID the bot was registered with",
                action.doc(),
            )

    def failure_record(self, exc: BaseException) -> dict:
        message = scrub(str(exc) or type(exc).__name__)
        log.error("%s failed, continuing as asked (continue_on_fail): %s", self.action_id, message)
        return {
            "error": message,
            "resource": self.action.resource,
            "timestamp": datetime.now(timezone.utc).isoformat(),
        }

    # ------------------------------------------------------------------ the work

    def method(self, step: int = -1) -> str:
        """The method of ``step`` for the chosen variant."""
        return self.action.method_for(self.variant, step)

    def run(self, hook: Bitrix24Hook, params: dict) -> Any:
        """One call (every page of it for PAGED actions). Multi-call actions override this."""
        action = self.action
        if len(action.steps) != 1:
            raise NotImplementedError(f"{type(self).__name__} must implement run() for {action.action_id}")
        method = self.method()
        if action.paged:
            return self.fetch_all(hook, method, params)
        return hook.call(method, params)

    def fetch_all(self, hook: Bitrix24Hook, method: str, params: dict) -> Any:
        """Every row of a list method: a list, or ``{"path", "count"}`` when ``output_path`` is set."""
        rows = hook.paginate(method, params, limit=None if self.limit is None else int(self.limit))
        if not self.output_path:
            return list(rows)
        return write_json_lines(self.output_path, rows)

    def download(
        self, hook: Bitrix24Hook, url: str, dest: Any = None, expected_size: int | None = None
    ) -> dict:
        """Stream a file link of the portal to ``dest`` (``output_path`` by default)."""
        target = _files.as_destination(dest if dest is not None else self.output_path)
        client = hook.get_conn()
        size = _files.download(client, url, target, expected_size)
        return {"path": str(target), "size": size}


class Bitrix24Operator(Bitrix24ActionOperator, declares=("action_id", *_all_selectors())):
    """Any catalogue action by id: ``Bitrix24Operator(task_id=..., action_id="crm_deal_get",
    parameters={"id": 1})``.

    What it builds is an instance of the action's own class (here ``CrmDealGetOperator``), made
    with the same arguments, so it behaves exactly like that class, its extra arguments included.
    ``action_id`` and every row's selector are declared for ``.partial()``/``.expand()``.
    """

    def __new__(cls, *args: Any, action_id: str, **kwargs: Any) -> Any:
        from airflow_provider_bitrix24.operators import operator_class

        return operator_class(action_id)(*args, **kwargs)


def write_json_lines(path: Any, rows: Iterable[Any]) -> dict:
    """Stream ``rows`` to ``path`` (local path or ``ObjectStoragePath``) as JSON Lines, signed
    links masked: all or nothing, through a temporary sibling renamed into place after the last
    row, so a failed export leaves the previous file as it was."""
    from airflow_provider_bitrix24.operators.transfers import atomic_jsonl_writer

    target = _files.as_destination(path)
    with atomic_jsonl_writer(target, gzip_output=False) as out:
        for row in rows:
            out.write(mask_links(row))
        out.flush()
    return {"path": str(target), "count": out.rows}


def _is_control_flow(exc: BaseException) -> bool:
    """Airflow signals (timeouts, skips, deferrals) must never be turned into data."""
    from airflow.sdk import exceptions as af

    names = (
        "AirflowTaskTimeout",
        "AirflowTaskTerminated",
        "AirflowSkipException",
        "TaskDeferred",
        "DownstreamTasksSkipped",
    )
    return isinstance(exc, tuple(getattr(af, n) for n in names if hasattr(af, n)))


def documented_or_warn(method: str) -> str:
    """Lower-case ``method``; log a warning when the REST docs do not list it."""
    name = method.strip().lower()
    if name not in methods():
        log.warning("Bitrix24 method %r is not in the documented method index; sending it anyway", method)
    return name
