"""The district store: models, sessions and the queries the tasks need. No Prefect here."""
