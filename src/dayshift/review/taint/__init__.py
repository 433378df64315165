"""Taint tracking: how a value flows from a source to a sink, inside a function (flow) and across
functions and modules (summaries)."""

from dayshift.review.taint.flow import EMPTY, TaintFlow, analyse
from dayshift.review.taint.summaries import FlowRules, Sink, Summaries, Summary

__all__ = ["EMPTY", "FlowRules", "Sink", "Summaries", "Summary", "TaintFlow", "analyse"]
