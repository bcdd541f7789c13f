"""Streams: sources, resources and transformers, and the decorators that declare them."""

from __future__ import annotations

from headwater.streams.decorators import resource, source, transformer
from headwater.streams.resource import Resource, make_resource
from headwater.streams.source import Source, SourceFactory

__all__ = ["Resource", "Source", "SourceFactory", "make_resource", "resource", "source", "transformer"]
