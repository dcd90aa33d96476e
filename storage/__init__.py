"""SQLite storage: the writer (group commit) and the readers, migrations, named SQL and one module
per aggregate. contacts.py is the one writer of contacts and tags, messages.py of the message log.

Nothing here imports handlers or jobs; callers get plain dicts and domain errors.
"""
