"""``ur4rec bench`` and ``ur4rec report``: every paper table from one command.

``tables`` says which gin rows make each table (Tables 2, 3, 5, 6 and Figure 4), ``plan`` turns a
table and the chosen datasets/backbones/seeds into runs (gin files, bindings, run folder, config
fingerprint), ``runner`` runs the missing ones, one subprocess each, with a progress display, and
``results`` + ``render`` read the finished run folders into the paper-shaped table (ours beside the
paper's number, significance marks, random floor, dataset statistics) as Markdown, CSV and a plot.
"""
