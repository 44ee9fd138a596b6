"""Intake: read handed-over files into canonical, normalised tables. No Prefect, no database."""
