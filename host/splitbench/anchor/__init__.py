"""The clause-5 anchor "all on the server": the phone uploads a compressed picture, the server
decodes it and runs the whole model (``codecs``: the picture codecs; ``stage``: the sweep stage
that measures them; :mod:`splitbench.report.anchor_table`: ``anchors.csv``)."""
