"""Thin Prefect tasks over the pure packages: open resources, call one function, report, return."""
