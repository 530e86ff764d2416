"""The event codec: eventsourcing's JSON format, written and read with orjson.

The stored bytes keep the library's JSONTranscoder format (a datetime is
{"_type_": "datetime_iso", "_data_": "..."}), so events written by either transcoder are
read by both; orjson only does the work faster than the standard library's json module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, cast

import orjson
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, StoredEvent
from eventsourcing.utils import get_topic

from domain.instants import isoformat

_OPTIONS: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS
_MARK: Final = b'"_type_"'


class OrjsonTranscoder(JSONTranscoder):
    """JSONTranscoder's format and registered transcodings, encoded and decoded by orjson."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj, default=self._encode_obj, option=_OPTIONS)

    def _encode_obj(self, o: Any) -> dict[str, Any]:
        """The library's, but a datetime's text comes from domain.instants: every event has one."""
        if type(o) is datetime:
            return self.encode_datetime(o)
        return super()._encode_obj(o)

    def encode_datetime(self, moment: datetime) -> dict[str, Any]:
        """What the registered transcoding makes of `moment`, as encode() writes it."""
        transcoding = self.types.get(datetime)
        if type(transcoding) is DatetimeAsISO:
            return {"_type_": transcoding.name, "_data_": isoformat(moment)}
        encoded: dict[str, Any] = super()._encode_obj(moment)
        return encoded

    def decode(self, data: bytes) -> Any:
        value = orjson.loads(data)
        marks = data.count(_MARK)
        if not marks:
            return value
        if type(value) is dict and marks == self._decode_top_level(value):
            # The common case: the only typed value is the event's own timestamp.
            return value
        return self._decode_nested(value)

    def _decode_top_level(self, value: dict[str, Any]) -> int:
        decoded = 0
        for key, item in value.items():
            if type(item) is dict and "_type_" in item:
                value[key] = self._decode_obj(item)
                decoded += 1
        return decoded

    def _decode_nested(self, value: Any) -> Any:
        if type(value) is dict:
            return self._decode_obj({key: self._decode_nested(item) for key, item in value.items()})
        if type(value) is list:
            return [self._decode_nested(item) for item in value]
        return value


class LedgerMapper(Mapper[Any]):
    """The library's Mapper, writing the same stored events with fewer steps for each.

    An event's timestamp is written as the transcoder's "datetime_iso" value before the event
    is encoded, so orjson does not call back into Python for it. Events that the library
    would compress or encrypt, or whose timestamp is not a plain datetime, take its own way.
    """

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        transcoder = cast(OrjsonTranscoder, self.transcoder)  # where _writes_itself() holds
        state = domain_event.__dict__
        moment = state.get("timestamp")
        if not self._writes_itself(domain_event, moment):
            return super().to_stored_event(domain_event)
        state = state.copy()
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        state["timestamp"] = transcoder.encode_datetime(moment)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(type(domain_event)),
            state=transcoder.encode(state),
        )

    def _writes_itself(self, domain_event: Any, moment: object) -> bool:
        """Whether this mapper writes the event, rather than the library's way (compressed, encrypted, versioned)."""
        return (
            self.compressor is None
            and self.cipher is None
            and type(self.transcoder) is OrjsonTranscoder
            and type(moment) is datetime
            and not _versioned(type(domain_event))
        )

    def to_stored_event_encoded(self, domain_event: Any, encoded: bytes) -> StoredEvent:
        """to_stored_event() for an event whose fields after its timestamp were encoded beforehand.

        `encoded` is fields_after_timestamp() of those fields (services.prepared), so only the
        timestamp is written here. Where to_stored_event() would take the library's way, or the
        transcoder writes a datetime otherwise, the event is encoded whole as usual.
        """
        transcoder = cast(OrjsonTranscoder, self.transcoder)  # where _writes_itself() holds
        moment = domain_event.__dict__.get("timestamp")
        if not self._writes_itself(domain_event, moment) or type(transcoder.types.get(datetime)) is not DatetimeAsISO:
            return self.to_stored_event(domain_event)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(domain_event)),
            state=b'{"timestamp":' + transcoder.encode(transcoder.encode_datetime(moment)) + encoded,
        )


def fields_after_timestamp(fields: dict[str, Any]) -> bytes:
    """Plain fields of an event as LedgerMapper writes them after the timestamp (to_stored_event_encoded)."""
    return b"," + orjson.dumps(fields, option=_OPTIONS)[1:]


def _versioned(event_class: type) -> bool:
    """Whether events of this class carry a class version (> 1) that the library's mapper writes.

    Found once per class: getattr() on a class that lacks the attribute raises and clears an
    AttributeError inside, about 2,300 instructions an event (callgrind).
    """
    versioned = _VERSIONED.get(event_class)
    if versioned is None:
        versioned = _VERSIONED[event_class] = bool(getattr(event_class, "class_version", 1) > 1)
    return versioned


_VERSIONED: dict[type, bool] = {}
