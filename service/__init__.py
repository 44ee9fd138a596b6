"""The service cycle's domain logic: publishing lists, the closed loop. No Prefect here."""
