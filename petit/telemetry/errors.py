from __future__ import annotations

from petit.errors import PetitError


class InvalidTelemetryKeysError(PetitError):
    code = "invalid_telemetry_keys"
    status = 422
    title = "Telemetry keys must be 1-50 comma-separated names of 1-64 letters, digits or _ . - :"


class InvalidTimeRangeError(PetitError):
    code = "invalid_time_range"
    status = 422
    title = "The time range is empty or reversed: startTs must be before endTs"


class TimeRangeTooLargeError(PetitError):
    code = "time_range_too_large"
    status = 422
    title = "The time range is wider than one history request may span"


class InvalidAggregationError(PetitError):
    code = "invalid_aggregation"
    status = 422
    title = "Aggregation needs an intervalMs that splits the range into a bounded number of buckets"
