"""Quality without labels: what users and the answerer itself say about the answers.

    negative_feedback  share of rated answers whose latest rating is "down" (as of `now`)
    feedback_slide     the same share creeping up: a CUSUM over the window's ratings in time order
    abstention_rate    share of answers that were "I don't know"
    rejection_rate     share of requests that ended in error or were cancelled
    retry_rate         share of model calls that needed a retry or a fallback
    confidence_shift   the answer-confidence distribution vs the reference (PSI, gated by KS)

Each is tested overall and per tenant, route, prompt version and model
(detectors/rates.py, detectors/shift.py); a prompt version first seen in the
window that holds the excess is named in the finding. feedback_slide is tested
overall and per tenant (detectors/slide.py): feedback is sparse, and a slow
slide stays under a window's rate test for a day or more.

Left out: feedback comments (free text; read them in the traces the runbook points to).
"""

from __future__ import annotations

import numpy as np

from dayshift.monitor.detectors import Context
from dayshift.monitor.detectors.rates import Rate, rate_finding
from dayshift.monitor.detectors.shift import Shift, shift_finding
from dayshift.monitor.detectors.slide import Slide, slide_finding
from dayshift.monitor.findings import Finding

__all__ = ["detect"]


def detect(ctx: Context) -> list[Finding]:
    cur, ref = ctx.current, ctx.reference
    everything = (np.ones(len(cur), dtype=bool), np.ones(len(ref), dtype=bool))
    found = [
        rate_finding(ctx, Rate("quality", "negative_feedback", "negative-feedback rate",
                               bad=(cur.rating == 1, ref.rating == 1), of=(cur.rating >= 0, ref.rating >= 0))),
        slide_finding(ctx, Slide("quality", "feedback_slide", "negative-feedback rate",
                                 bad=(cur.rating == 1, ref.rating == 1), of=(cur.rating >= 0, ref.rating >= 0))),
        rate_finding(ctx, Rate("quality", "abstention_rate", "abstention rate",
                               bad=(cur.abstained, ref.abstained), of=(cur.answered, ref.answered))),
        rate_finding(ctx, Rate("quality", "rejection_rate", "error-or-cancelled rate",
                               bad=(~cur.ok, ~ref.ok), of=everything)),
        rate_finding(ctx, Rate("quality", "retry_rate", "retry rate",
                               bad=(cur.retries > 0, ref.retries > 0), of=(cur.model != 0, ref.model != 0))),
        shift_finding(ctx, Shift("quality", "confidence_shift", "answer confidence",
                                 values=(cur.confidence, ref.confidence))),
    ]
    return [f for f in found if f is not None]
