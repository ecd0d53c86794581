# State of a prover's SQLite database, run inside the prover container with `python3 -c`:
# integrity_check and the schema version (PRAGMA user_version), as one JSON line.
# With an argument, first a consistent copy to that path (the online backup API, safe
# while the prover writes), and the state of the copy.
import json
import sqlite3
import sys

db = sqlite3.connect('file:/data/prover.db?mode=ro', uri=True)
if len(sys.argv) > 1:
    copy = sqlite3.connect(sys.argv[1])
    db.backup(copy)
    db = copy
print(json.dumps({'integrity': db.execute('PRAGMA integrity_check').fetchone()[0],
                  'user_version': db.execute('PRAGMA user_version').fetchone()[0]}))
