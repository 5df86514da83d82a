"""Airflow plugins of the provider (loaded by the API server through the provider's ``plugins`` entry)."""
