"""Helpers for the runnable book on recommender systems.

One module per idea; each notebook imports what it teaches. See ``BOOK.md`` and the README.
"""

__version__ = "0.1.0"
