"""A realistic sample district, generated deterministically from a seed (no Prefect here)."""
