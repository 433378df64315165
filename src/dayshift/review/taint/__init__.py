"""Intra-procedural taint tracking: how a value flows from a source to a sink inside one function."""

from dayshift.review.taint.flow import EMPTY, TaintFlow, analyse

__all__ = ["EMPTY", "TaintFlow", "analyse"]
