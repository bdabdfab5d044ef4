"""Labelled pages for the extraction bench (`bench.extraction`, issue #14).

`build_pages()` returns every page in memory (deterministic: fixed seeds); see
`bench.extraction_pages.generate` for the site templates, the classes and the labels.
"""

from bench.extraction_pages.generate import CLASSES, LANGS, Page, build_pages

__all__ = ["CLASSES", "LANGS", "Page", "build_pages"]
