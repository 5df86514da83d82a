"""Telephony operators (telephony.*, voximplant.*)."""

from __future__ import annotations

from typing import Any

from airflow_provider_bitrix24.client.files import (
    DEFAULT_INLINE_LIMIT,
    source_name,
    source_size,
    upload_via_url,
)
from airflow_provider_bitrix24.operators._files import as_source
from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class TelephonyAttachCallRecordOperator(Bitrix24ActionOperator):
    """Attach a call record (.mp3/.wav) given as ``files={"FILE_CONTENT": path}``: up to
    ``inline_limit`` bytes it goes inline as base64; a larger file takes the documented two-step
    route (the call with ``FILENAME`` only returns an upload URL, the file is then streamed there
    as multipart). ``RECORD_URL`` lets the portal fetch the record itself."""

    action_id = "telephony_attach_call_record"

    def __init__(self, *, inline_limit: int = DEFAULT_INLINE_LIMIT, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inline_limit = inline_limit

    def prepare(self) -> dict:
        files = dict(self.files or {})
        source = files.get("FILE_CONTENT")
        size = source_size(as_source(source)) if isinstance(source, str) or hasattr(source, "open") else None
        self._streamed = as_source(source) if size is not None and size > self.inline_limit else None
        if self._streamed is None:
            return super().prepare()
        self.files = {k: v for k, v in files.items() if k != "FILE_CONTENT"}
        try:
            params = super().prepare()
        finally:
            self.files = files
        params.setdefault("FILENAME", source_name(self._streamed))
        return params

    def run(self, hook: Any, params: dict) -> Any:
        if getattr(self, "_streamed", None) is None:
            return super().run(hook, params)
        return upload_via_url(
            hook.get_conn(),
            self.method(),
            params,
            self._streamed,
            filename=params["FILENAME"],
            field_key="fieldName",
        )


class TelephonyRegisterExternalCallOperator(Bitrix24ActionOperator):
    action_id = "telephony_register_external_call"  # noqa: E701


class TelephonyFinishExternalCallOperator(Bitrix24ActionOperator):
    action_id = "telephony_finish_external_call"  # noqa: E701


class TelephonyHideExternalCallOperator(Bitrix24ActionOperator):
    action_id = "telephony_hide_external_call"  # noqa: E701


class TelephonyShowExternalCallOperator(Bitrix24ActionOperator):
    action_id = "telephony_show_external_call"  # noqa: E701


class TelephonySearchCrmEntitiesOperator(Bitrix24ActionOperator):
    action_id = "telephony_search_crm_entities"  # noqa: E701


class TelephonyGetExternalLineOperator(Bitrix24ActionOperator):
    action_id = "telephony_get_external_line"  # noqa: E701


class TelephonyAddExternalLineOperator(Bitrix24ActionOperator):
    action_id = "telephony_add_external_line"  # noqa: E701


class TelephonyUpdateExternalLineOperator(Bitrix24ActionOperator):
    action_id = "telephony_update_external_line"  # noqa: E701


class TelephonyDeleteExternalLineOperator(Bitrix24ActionOperator):
    action_id = "telephony_delete_external_line"  # noqa: E701


class TelephonyGetVoximplantStatisticsOperator(Bitrix24ActionOperator):
    action_id = "telephony_get_voximplant_statistics"  # noqa: E701


class TelephonyGetVoximplantLineOperator(Bitrix24ActionOperator):
    action_id = "telephony_get_voximplant_line"  # noqa: E701


class TelephonyGetVoximplantSipConnectorOperator(Bitrix24ActionOperator):
    action_id = "telephony_get_voximplant_sip_connector"  # noqa: E701


class TelephonyGetVoximplantSipLineOperator(Bitrix24ActionOperator):
    action_id = "telephony_get_voximplant_sip_line"  # noqa: E701


class TelephonyAddVoximplantSipLineOperator(Bitrix24ActionOperator):
    action_id = "telephony_add_voximplant_sip_line"  # noqa: E701


class TelephonyUpdateVoximplantSipLineOperator(Bitrix24ActionOperator):
    action_id = "telephony_update_voximplant_sip_line"  # noqa: E701


class TelephonyDeleteVoximplantSipLineOperator(Bitrix24ActionOperator):
    action_id = "telephony_delete_voximplant_sip_line"  # noqa: E701
