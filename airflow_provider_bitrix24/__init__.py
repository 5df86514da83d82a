"""Apache Airflow provider for Bitrix24."""

__version__ = "0.1.0"
