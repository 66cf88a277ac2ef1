"""The one default configuration of every ``hpcopt detect`` command.

It is the best label-free configuration measured on SMD (README, "Measured figures", SMD
table; docs/notes/issue-4.md): the LSTM autoencoder (window 16, 8 epochs) with causal
per-metric recentring over 4320 rows (3 days of SMD's 60 s rows) and the DSPOT streaming
threshold (POT on the training scores with ``level=0.95, risk=0.01``, then updated on the
unlabelled scores, depth 100, the paper's rule: alarms are not learned from), scores
smoothed over 5 steps, seed 0: mean point-wise F1 0.425 over the six SMD machines, against
0.187 for the former default (``pca``, fixed POT).

Its cost, stated because it is the reason a default could be something else: the LSTM is
fitted in 5-26 s per SMD machine (about 23,700 rows x 38 metrics, 2 torch threads, README
figures, a quiet box), against well under a second for ``pca``. That is within what a user
waits for one ``evaluate`` or ``fit``, so the best one is the default. The cheap alternative,
with its own figure: ``--detector pca --recenter-window 0 --threshold dspot`` (SMD F1 0.208).

Checked with the defaults on machine-1-6 (``python -m hpcopt detect evaluate --train ...
--test ... --labels ... --interpretation ... --json``): F1 0.596 (README per-machine row 0.598),
AUPRC 0.435, event recall 0.933; on a 2-core box shared with other jobs (load average about 10)
that fit took 39 minutes of wall time (20 % of a core): on a saturated machine ``--detector pca``
is the one to use. On NAB (``hpcopt detect nab --json``, 20 files, 9 min on that box): F1 0.181,
AUPRC 0.222, event recall 0.886 -- below ``mad`` with DSPOT (F1 0.214, AUPRC 0.245, README): one
default everywhere costs NAB about 0.03 F1 (``--detector mad`` there). On HPAS (``hpcopt detect
hpas --json``, 34 anomalous runs, 4.5 min): point F1 0.413, AUROC 0.56, event recall 0.809 against
0.872 for its own alerts shifted -- level with ``mad`` with DSPOT on F1 (0.412), below it on AUROC
(0.622); there, as with every detector measured, event recall does not beat the shifted floor.

``recenter_window`` counts rows: 4320 suits 60 s rows; for 300 s rows (ASD) the same
3 days are 864 rows (``--recenter-window 864``). A recentred detector needs more training
rows than its window plus its look-back (4,337 for the default LSTM), so ``detect hpas`` and
``detect nab``, whose training parts are far shorter (an HPAS healthy run is about 1,000 one-
second rows; a NAB probationary period about 600 rows), use the same configuration with
recentring off (:data:`SHORT_SERIES_RECENTER_WINDOW`).
"""

from __future__ import annotations

#: one default configuration for every detect command (a test checks each command against it)
DEFAULT_CONFIG: dict = {
    "detector": "lstm",
    "recenter_window": 4320,
    "threshold": "dspot",
    "depth": 100,
    "censored": False,
    "smoothing": 5,
    "risk": 0.01,
    "level": 0.95,
    "rate": 0.01,
    "seed": 0,
}

#: ``detect hpas`` and ``detect nab``: training parts shorter than the recentring window
SHORT_SERIES_RECENTER_WINDOW = 0

#: what the default costs and scores, for --help and the docs
DEFAULT_SUMMARY = ("lstm, recentring 4320 rows (3 days of 60 s rows), DSPOT threshold, smoothing 5: the best "
                   "label-free SMD row (mean F1 0.425 over 6 machines; pca with a fixed POT: 0.187); the LSTM "
                   "fit takes 5-26 s per SMD machine on 2 threads (pca: under 1 s)")

__all__ = ["DEFAULT_CONFIG", "DEFAULT_SUMMARY", "SHORT_SERIES_RECENTER_WINDOW"]
