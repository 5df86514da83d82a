"""Local Bitrix24 portal emulator (see docs/emulator.md): real HTTP, webhook and OAuth auth,
documented envelopes, limits, batch, list paging and fault injection. No airflow import."""

from .core import Emulator
from .state import CostModel, Fault, RequestRecord

__all__ = ["Emulator", "CostModel", "Fault", "RequestRecord"]
