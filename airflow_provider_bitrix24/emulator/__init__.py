"""Local Bitrix24 portal emulator (see docs/architecture.md)."""
