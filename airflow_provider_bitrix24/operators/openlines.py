"""Open line operators (imopenlines.*)."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class OpenLinesGetOpenLinesOperator(Bitrix24ActionOperator): action_id = "open_lines_get_open_lines"  # noqa: E701
class OpenLinesGetSessionOperator(Bitrix24ActionOperator): action_id = "open_lines_get_session"  # noqa: E701
class OpenLinesStartSessionOperator(Bitrix24ActionOperator): action_id = "open_lines_start_session"  # noqa: E701
class OpenLinesFinishSessionOperator(Bitrix24ActionOperator): action_id = "open_lines_finish_session"  # noqa: E701
class OpenLinesSendMessageOperator(Bitrix24ActionOperator): action_id = "open_lines_send_message"  # noqa: E701
class OpenLinesGetMessagesOperator(Bitrix24ActionOperator): action_id = "open_lines_get_messages"  # noqa: E701
class OpenLinesTransferSessionOperator(Bitrix24ActionOperator): action_id = "open_lines_transfer_session"  # noqa: E701
class OpenLinesCloseSessionOperator(Bitrix24ActionOperator): action_id = "open_lines_close_session"  # noqa: E701
