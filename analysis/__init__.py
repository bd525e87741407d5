"""Figures and statistics from run directories (importable as ``pdlf_brian.analysis``)."""
