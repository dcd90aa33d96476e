"""SQLite storage: the connection pair, migrations, named SQL and one module per aggregate.

Nothing here imports handlers or jobs; callers get plain dicts and domain errors.
"""
