"""Helpers for the runnable book on recommender systems.

One module per idea; each notebook imports what it teaches. The README's repository layout lists the
modules.
"""

__version__ = "0.1.0"
