"""``headwater dashboard``: a local web page over the pipelines of a pipelines folder.

It shows, per pipeline: its runs over time (status, duration, rows; from the run records in the working
folder), its tables with their row counts and the rows each run added, its schema versions with what
changed between them, its state and cursors, its data-quality check results and quarantined rows, and
the errors of failed runs in full. It binds 127.0.0.1 only and loads nothing from the network.

- :mod:`.gather`: the data, as JSON-ready dicts (no server needed: tests and other tools call it);
- :mod:`.sources`: what is read from the destination (read-only);
- :mod:`.app`: the Starlette application and the uvicorn server (the ``dashboard`` extra);
- ``static/``: the page, plain DOM code and Plotly's JavaScript from the installed ``plotly`` package.

An application beside the command line: the engine never imports it.
"""
