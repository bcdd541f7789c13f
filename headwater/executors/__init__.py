"""Where the partitions of a run execute: threads, local processes, a Ray cluster.

Keep this package's ``__init__`` free of imports: :mod:`headwater.executors.ratelimit` sits in a low
layer (sources use it), and importing it runs this file first.
"""
