"""pytest's settings for the whole repository (``tests/`` and the notebooks under nbval).

Kernels that nbval starts inherit this process's environment: with ``RECSYS_PROGRESS=off`` the
package's live progress line (:mod:`recsys_helpers.progress`) stays out of the outputs that nbval
compares with the stored ones. It is set here, at the repository's root, so that it holds for
``pytest --nbval notebooks/05_latent_factors.ipynb`` as much as for the whole suite.
"""

import os

os.environ["RECSYS_PROGRESS"] = "off"
