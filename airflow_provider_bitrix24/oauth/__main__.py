"""``python -m airflow_provider_bitrix24.oauth authorize ...`` (see :mod:`.authorize`)."""

from __future__ import annotations

import sys

from .authorize import main

if __name__ == "__main__":
    sys.exit(main())
