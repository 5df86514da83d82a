"""Base class of the Bitrix24 sensors: one probe, three ways to wait for it.

``mode="poke"`` keeps a worker slot and looks every ``poke_interval`` seconds;
``mode="reschedule"`` frees the slot between looks; ``deferrable=True`` hands the waiting to
:class:`~airflow_provider_bitrix24.triggers.bitrix24.Bitrix24PollTrigger` in the triggerer. All
three make the same look (:func:`~airflow_provider_bitrix24.polling.probes.check_once`), so
they agree on what counts as found and which errors only mean "try again later".
"""

from __future__ import annotations

import ast
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout

from airflow_provider_bitrix24.hooks.mixin import HookMixin
from airflow_provider_bitrix24.polling.probes import Probe, check_once
from airflow_provider_bitrix24.triggers.bitrix24 import Bitrix24PollTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


def as_list(value: Any) -> list:
    """A templated list argument as a list: a rendered ``"['WON', 'LOSE']"`` (a DAG without
    ``render_template_as_native_obj``) is read back as a list, a single value becomes ``[value]``."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                parsed = None
            if isinstance(parsed, (list, tuple)):
                return list(parsed)
        return [value]
    if isinstance(value, (list, tuple, set)):
        return list(value)
    return [value]


class Bitrix24BaseSensor(HookMixin, BaseSensorOperator):
    """Wait for a condition on a Bitrix24 portal.

    Subclasses implement :meth:`build_probe` and may override :meth:`on_found` to turn what the
    probe saw into the task's result (that runs on a worker in every mode).

    :param bitrix24_conn_id: Airflow connection of the portal.
    :param deferrable: wait in the triggerer instead of a worker (``[operators] default_deferrable``).
    :param poke_interval: seconds between looks, in every mode.
    :param timeout: seconds to wait in total before failing (or skipping with ``soft_fail=True``).
    """

    template_fields: Sequence[str] = ("bitrix24_conn_id",)
    ui_color = "#2fc6f6"

    def __init__(
        self,
        *,
        bitrix24_conn_id: str = "bitrix24_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bitrix24_conn_id = bitrix24_conn_id
        self.deferrable = deferrable

    def build_probe(self) -> Probe:
        raise NotImplementedError

    def check_connection(self) -> None:
        """Refuse a connection that cannot work, before any request (override when needed)."""

    def on_found(self, context: Context, value: Any) -> PokeReturnValue | Any:
        """The task's result once the probe fired; return ``PokeReturnValue(False)`` to keep waiting."""
        return value

    def poke(self, context: Context) -> PokeReturnValue | bool:
        outcome = check_once(self.build_probe(), self.hook)
        if not outcome.done:
            return False
        result = self.on_found(context, outcome.value)
        if isinstance(result, PokeReturnValue):
            return result
        return PokeReturnValue(is_done=True, xcom_value=result)

    def execute(self, context: Context) -> Any:
        self.check_connection()
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first:
            return first.xcom_value if isinstance(first, PokeReturnValue) else None
        self._defer()

    def _defer(self, deadline: float | None = None) -> None:
        # The deadline travels with the deferral so that waiting again after a resume (see
        # execute_complete) does not restart the clock.
        if deadline is None:
            remaining = float(self.timeout)
            deadline = time.time() + remaining
        else:
            remaining = max(0.0, deadline - time.time())
        self.defer(
            trigger=Bitrix24PollTrigger(
                probe=self.build_probe().to_dict(),
                bitrix24_conn_id=self.bitrix24_conn_id,
                poll_interval=self.poke_interval,
            ),
            method_name="execute_complete",
            kwargs={"deadline": deadline},
            timeout=timedelta(seconds=remaining),
        )

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, deadline: float | None = None
    ) -> Any:
        """Turn the trigger's event into the task result, or a failure that says what went wrong."""
        if not event or event.get("status") != "success":
            message = (event or {}).get("message", "no event from the trigger")
            raise AirflowException(f"{self.task_id}: waiting on Bitrix24 failed: {message}")
        result = self.on_found(context, event.get("value"))
        if isinstance(result, PokeReturnValue):
            if not result.is_done:
                # Someone else took what the trigger saw (e.g. offline events): wait again.
                if deadline is not None and time.time() >= deadline:
                    raise AirflowSensorTimeout(f"{self.task_id}: sensor timed out after {self.timeout}s")
                self._defer(deadline)
            return result.xcom_value
        return result
