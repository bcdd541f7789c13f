"""Transforms of a resource's data before it is loaded (ETL): the checked spec, parameters, row-wise analysis.

:func:`make_transform` checks what a user wrote (:mod:`.spec`); :mod:`.params` binds query parameters;
:mod:`.rowwise` tells a query that can run batch by batch. The engine is
:mod:`headwater.pipelines.transforming`.
"""

from __future__ import annotations

from headwater.transform.spec import Transform, make_transform

__all__ = ["Transform", "make_transform"]
