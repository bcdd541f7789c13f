"""What ``headwater dashboard`` shows, read from Python: a pipeline's tables, schema versions and state as a
dict (for a report, a check in CI, an alert), then the command that shows it in a browser.

    python examples/dashboard_data.py
    headwater dashboard dashboard_demo        # pip install 'headwater[dashboard]'
"""

from __future__ import annotations

import headwater as hw
from headwater.observe.dashboard.gather import pipeline_detail

pipeline = hw.pipeline("dashboard_demo", dataset="demo", progress=False)
users = [{"id": 1, "name": "ada", "joined": "2026-01-05T10:00:00Z"}]
pipeline.run(hw.resource(users, name="users", primary_key="id", incremental=hw.incremental("joined")))
newer = [{"id": 2, "name": "grace", "joined": "2026-02-01T09:30:00Z", "team": "compilers"}]  # a new column
pipeline.run(hw.resource(newer, name="users", primary_key="id", incremental=hw.incremental("joined")))

detail = pipeline_detail(pipeline.workdir)
for table in detail["tables"]:
    print(f"table {table['name']}: {table['rows']} rows")
for schema in detail["schemas"]:
    for version in schema["versions"]:
        diff = version["diff"]
        if diff is None:
            print(f"schema {schema['name']} v{version['version']}: first version")
        else:
            added = ", ".join(f"{c['table']}.{c['column']} ({c['type']})" for c in diff["added"])
            print(f"schema {schema['name']} v{version['version']}: added {added or 'nothing'}")
for cursor in detail["state"]["cursors"]:
    print(f"cursor {cursor['resource']}.{cursor['cursor']}: {cursor['last_value']}")
print(f"problems: {detail['problems'] or 'none'}")
print("see it in a browser: headwater dashboard dashboard_demo")
