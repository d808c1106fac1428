"""The versions of the libraries that train a model and draw its report, as the manifest and the
report record them."""

from __future__ import annotations

import platform

import numpy as np


def library_versions() -> dict:
    from importlib.metadata import version

    import lightgbm
    import scipy
    import sklearn

    # shap and matplotlib draw the report's charts: their versions pin the PNGs' bytes (read from the
    # installed metadata, without importing them).
    return {"python": platform.python_version(), "lightgbm": lightgbm.__version__, "numpy": np.__version__,
            "sklearn": sklearn.__version__, "scipy": scipy.__version__, "shap": version("shap"),
            "matplotlib": version("matplotlib")}
