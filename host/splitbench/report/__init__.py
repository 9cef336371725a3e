"""The report layer: the tables and reports of a run, built from its results database.

One layer that the sweep, ``report``, ``explore`` and ``compare`` share (``collect/`` keeps only
what reads outside files: benchmark outputs, op profiles, collation):

- :mod:`.split_table` — the split table from the database (one row per split asked for);
- :mod:`.predicted_columns` — the predicted timing method beside the direct one;
- :mod:`.write` — :func:`~.write.write_report`: the CSV, the workbook and the plots of a client;
- :mod:`.export` — CSV and XLSX writers; :mod:`.plots` — the PNG charts;
- :mod:`.report_data`, :mod:`.html_page`, :mod:`.run_page` — ``report.html``;
- :mod:`.node_data` — the per-node costs shown in Model Explorer.
"""
