"""genmount's performance benchmark, as a package: `python3 -m bench` from ci/ (ci/bench.sh runs it).

Sections, each its own module: restic (genmount against `restic mount` and `restic restore`),
folders (snapshot folders against the disk), borg (against `borg mount`), scale (a repository of
many tiny files). common.py holds settings and mounts, measure.py what is measured and the loop the
sections share, dataset.py the data sets, report.py the markdown; __main__.py runs them in order.
"""
