"""Built-in sources, one folder each (rest_api, sql_database, filesystem, singer, airbyte).

Any Python iterable, generator or async generator is a source too: wrap it with ``@hw.resource``.
"""
