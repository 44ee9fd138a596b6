"""Deployable flows, one module each: composition of tasks only."""
