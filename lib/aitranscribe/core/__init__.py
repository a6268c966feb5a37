"""Infrastructure every part of the kit uses: errors, paths, parameters, atomic files, logging, stage bookkeeping,
the stage registry, notebook glue, report files (and their cleaning for sharing), JupyterLab's offline settings and
machine facts. Imports nothing else of the kit."""
