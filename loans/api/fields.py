"""Filter fields whose values PostgreSQL must be able to take."""

import datetime as dt

import django_filters
from django import forms


class UtcDateTimeField(forms.DateTimeField):
    """An ISO 8601 date-time converted to UTC before it reaches the database: PostgreSQL refuses offsets
    beyond +-15:59 that Python accepts, and a date at the edge of the calendar may not exist in UTC."""

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", ["iso-8601"])
        super().__init__(**kwargs)

    def strptime(self, value, format):
        return dt.datetime.fromisoformat(value)

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.UTC)
            return value.astimezone(dt.UTC)
        except OverflowError:
            raise forms.ValidationError("The date-time is out of range.", code="invalid") from None


class UtcDateTimeFilter(django_filters.Filter):
    field_class = UtcDateTimeField
