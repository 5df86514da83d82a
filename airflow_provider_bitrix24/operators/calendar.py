"""Calendar operators (calendar.*)."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class CalendarGetEventsOperator(Bitrix24ActionOperator):
    action_id = "calendar_get_events"  # noqa: E701


class CalendarGetEventOperator(Bitrix24ActionOperator):
    action_id = "calendar_get_event"  # noqa: E701


class CalendarAddEventOperator(Bitrix24ActionOperator):
    action_id = "calendar_add_event"  # noqa: E701


class CalendarUpdateEventOperator(Bitrix24ActionOperator):
    action_id = "calendar_update_event"  # noqa: E701


class CalendarDeleteEventOperator(Bitrix24ActionOperator):
    action_id = "calendar_delete_event"  # noqa: E701


class CalendarGetMeetingStatusOperator(Bitrix24ActionOperator):
    action_id = "calendar_get_meeting_status"  # noqa: E701


class CalendarSetMeetingStatusOperator(Bitrix24ActionOperator):
    action_id = "calendar_set_meeting_status"  # noqa: E701


class CalendarGetAccessibilityOperator(Bitrix24ActionOperator):
    action_id = "calendar_get_accessibility"  # noqa: E701


class CalendarGetSectionsOperator(Bitrix24ActionOperator):
    action_id = "calendar_get_sections"  # noqa: E701


class CalendarAddSectionOperator(Bitrix24ActionOperator):
    action_id = "calendar_add_section"  # noqa: E701


class CalendarUpdateSectionOperator(Bitrix24ActionOperator):
    action_id = "calendar_update_section"  # noqa: E701


class CalendarDeleteSectionOperator(Bitrix24ActionOperator):
    action_id = "calendar_delete_section"  # noqa: E701


class CalendarSyncEventsOperator(Bitrix24ActionOperator):
    action_id = "calendar_sync_events"  # noqa: E701
