"""The normalizer: rows and Arrow data in, typed Arrow tables per schema table out."""
