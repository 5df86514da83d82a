"""Direct API operators: call any documented method by name, or many at once with ``batch``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_bitrix24.catalogue.params import ParameterError
from airflow_provider_bitrix24.client.errors import Bitrix24Error, Bitrix24WriteMayHaveSucceeded
from airflow_provider_bitrix24.client.files import mask_links
from airflow_provider_bitrix24.client.methods import is_read_method
from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator, documented_or_warn


class Bitrix24CallOperator(Bitrix24ActionOperator):
    """Call one REST method by name and return its ``result``.

    :param method: the REST method, e.g. ``crm.deal.list`` (templated, inside ``parameters``).
    :param parameters: the method's parameters (dict or JSON string).
    :param all_pages: for list methods, follow ``next`` and return every row (``limit`` and
        ``output_path`` apply as for the catalogue's Get All actions).
    """

    action_id = "direct_api_call"

    def __init__(
        self,
        *,
        method: str,
        parameters: Mapping[str, Any] | str | None = None,
        all_pages: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            parameters={"method": method, "params": parameters if parameters is not None else {}}, **kwargs
        )
        self.all_pages = all_pages

    def returns_every_row(self) -> bool:
        return bool(getattr(self, "all_pages", False))

    def _one_reply(self) -> str:
        return "set all_pages=True to read every page of a list method"

    def run(self, hook: Any, params: dict) -> Any:
        name = documented_or_warn(str(params["method"]))
        body = params.get("params") or {}
        if not isinstance(body, Mapping):
            raise ParameterError(self.action_id, f"the parameters of {name} must be an object")
        if getattr(self, "all_pages", False):
            return self.fetch_all(hook, name, dict(body))
        return hook.call(name, dict(body))


class Bitrix24BatchOperator(Bitrix24ActionOperator):
    """Run up to 50 commands per request through ``batch`` (more are sent in chunks).

    :param commands: ``{key: (method, params)}``, ``{key: {"method": .., "params": ..}}``,
        ``{key: "method?query"}`` or a list of those (templated; JSON string accepted). Values
        in ``params`` are sent as written, so a rendered ``"$result[key]"`` stays text. A later
        command refers to an earlier one of the same chunk of 50 on purpose with
        ``result_ref("key", "field")`` (from ``airflow_provider_bitrix24.client``) in ``params``,
        or inside a ``"method?query"`` string, which is sent as written
        (``"crm.deal.get?id=$result[add]"``).
    :param halt: stop at the first failing command.

    Returns ``{"result", "total", "next"}`` keyed like ``commands``; if any command failed the
    task fails naming each failed key (the successful results are logged).
    """

    action_id = "direct_api_batch"

    def __init__(self, *, commands: Any, halt: bool = False, **kwargs: Any) -> None:
        super().__init__(parameters={"cmd": commands, "halt": halt}, **kwargs)

    def run(self, hook: Any, params: dict) -> Any:
        commands = params["cmd"]
        items = commands.items() if isinstance(commands, Mapping) else enumerate(commands)
        prepared = {str(key): _command(self.action_id, key, command) for key, command in items}
        try:
            result = hook.batch(
                prepared, halt=str(params.get("halt", "")).lower() in ("1", "true", "y", "yes")
            )
        except Bitrix24Error as exc:
            # A request failed as a whole (after retries); other requests of the batch may have run.
            partial = getattr(exc, "partial_result", None)
            applied = _writes_applied(prepared, partial.result) if partial is not None else []
            if applied and not isinstance(exc, Bitrix24WriteMayHaveSucceeded):
                raise BatchPartlyApplied(
                    "BATCH_FAILED",
                    f"{exc}; writes applied by other requests: {', '.join(applied)}",
                    "batch",
                    hint=_NO_RETRY_HINT,
                ) from None
            raise
        if result.errors:
            self.log.info("batch results before the failure: %s", mask_links(result.result))
            failed = "; ".join(f"{key}: {error}" for key, error in result.errors.items())
            message = f"{len(result.errors)} of {len(prepared)} commands failed: {failed}"
            applied = _writes_applied(prepared, result.result)
            if applied:
                raise BatchPartlyApplied(
                    "BATCH_FAILED",
                    f"{message}; writes applied: {', '.join(applied)}",
                    "batch",
                    hint=_NO_RETRY_HINT,
                )
            raise Bitrix24Error("BATCH_FAILED", message, "batch")
        return {"result": result.result, "total": result.total, "next": result.next}


class BatchPartlyApplied(Bitrix24Error, AirflowFailException):
    """Some commands of a batch failed after some writes were applied: fail without Airflow retries."""


_NO_RETRY_HINT = "Airflow does not retry this task: a retry would apply those writes again"


def _writes_applied(prepared: Mapping[str, Any], results: Mapping[str, Any]) -> list[str]:
    return [key for key in results if not is_read_method(_method_of(prepared[key]))]


def _method_of(command: Any) -> str:
    return command.partition("?")[0] if isinstance(command, str) else command[0]


def _command(action_id: str, key: Any, command: Any) -> Any:
    """One batch command in a form the client accepts, its method name checked against the docs."""
    if isinstance(command, str):
        documented_or_warn(command.partition("?")[0])
        return command
    if isinstance(command, Mapping) and "method" in command:
        return documented_or_warn(str(command["method"])), dict(command.get("params") or {})
    if isinstance(command, (list, tuple)) and len(command) in (1, 2) and isinstance(command[0], str):
        return documented_or_warn(command[0]), dict(command[1]) if len(command) == 2 and command[1] else {}
    raise ParameterError(
        action_id, f"command {key!r} must be (method, params), {{'method', 'params'}} or 'method?query'"
    )
