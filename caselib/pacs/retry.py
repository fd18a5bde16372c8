"""Retries with exponential backoff for network calls that may fail for a moment.

Only transient failures are retried (:class:`~caselib.pacs.errors.PacsConnectionError`:
refused, reset, timed out, HTTP 5xx/429); a wrong password, an unknown study or a
rejected association fails at once.  The one implementation lives with the
DICOMweb connection in :mod:`caselib.store._http`; DIMSE calls use it too.
"""
from __future__ import annotations

from caselib.store._http import RetryPolicy, call_with_retries

__all__ = ["RetryPolicy", "call_with_retries"]
