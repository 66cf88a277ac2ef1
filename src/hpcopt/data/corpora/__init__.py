"""Labelled corpora for evaluating detectors: the SMD/ASD layout (:mod:`~hpcopt.data.corpora.labelled`),
NAB (:mod:`~hpcopt.data.corpora.nab`) and HPAS-injected LDMS runs (:mod:`~hpcopt.data.corpora.hpas`)."""

from __future__ import annotations

from hpcopt.data.corpora.labelled import (ASD_INTERVAL_S, SMD_INTERVAL_S, LabelledSeries, Segment, list_entities,
                                          load_labelled_series, read_interpretation, read_labels)

__all__ = ["LabelledSeries", "Segment", "list_entities", "load_labelled_series", "read_labels",
           "read_interpretation", "SMD_INTERVAL_S", "ASD_INTERVAL_S"]
