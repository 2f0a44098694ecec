"""The package is ``flows``; the SQL it runs lives in ``sql/`` at the top of the repository
(the design's layout) and is installed inside the package as ``flows/sql`` (a build mapping),
so that a wheel carries it. ``flows/core/sqlfiles.py`` finds it in either place."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["flows", "flows.*"]), "flows.sql"],
    package_dir={"flows.sql": "sql"},
    package_data={"flows.sql": ["**/*.sql"]},
)
