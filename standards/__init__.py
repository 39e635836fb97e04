"""Biodiversity data standards: Darwin Core terms, archive descriptors and readers. No models."""
