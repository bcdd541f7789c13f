"""The conformance scenarios: pytest modules run on every destination in use.

``pytest -p my_suite --pyargs headwater.testing.scenarios`` runs them all (``my_suite`` calls
:func:`headwater.testing.use`); a test package may also re-export one module
(``from headwater.testing.scenarios.test_merge import *``) under a conftest that imports
:mod:`headwater.testing.plugin`.
"""
