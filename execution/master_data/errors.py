"""The refusal of a master-data item, and the readers that name the item and field of
each mistake (docs/master-data.md). No HTTP here: integration maps codes to statuses."""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

# A body that is not as documented (a field missing, of the wrong type, a limit a typo).
VALIDATION_ERROR = "VALIDATION_ERROR"
# The largest number the database's integer columns hold.
MAX_INTEGER = 2**31 - 1


class MasterDataRefused(Exception):
    """An item the rules refuse: `code` (VALIDATION_ERROR, OPERATION_NOT_FOUND,
    ROUTE_VERSION_IN_USE, UNIT_HAS_TRACKS, …), a readable message naming the item and
    field, and `details` ({"item": "routes[0]", "field": "steps[2].operationCode"})."""

    def __init__(self, code: str, message: str, *, item: str = "", field_name: str = ""):
        self.code = code
        self.item = item
        self.field = field_name
        where = ".".join(part for part in (item, field_name) if part)
        self.message = f"{where}: {message}" if where else message
        super().__init__(self.message)

    @property
    def details(self) -> dict:
        pairs = (("item", self.item), ("field", self.field))
        return {name: value for name, value in pairs if value}


@dataclass
class Outcome:
    """What one upsert did: `action` is created, updated or unchanged; `counts` adds the
    run's units ({"unitsCreated": 3, …})."""

    entity: str
    key: str
    action: str
    counts: dict = field(default_factory=dict)

    def as_answer(self) -> dict:
        return {"entity": self.entity, "key": self.key, "action": self.action, **self.counts}


CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


class Reader:
    """Reads one item's fields (camelCase, as the API's bodies), refusing with its name."""

    def __init__(self, data, item: str = "", prefix: str = ""):
        self.item = item
        self.prefix = prefix  # where this object sits in its item: "steps[2]."
        if not isinstance(data, dict):
            raise self.refused("", "must be a JSON object.")
        self.data = data

    def refused(self, name: str, message: str, code: str = VALIDATION_ERROR):
        field_name = f"{self.prefix}{name}".rstrip(".")
        return MasterDataRefused(code, message, item=self.item, field_name=field_name)

    def text(self, name: str, *, max_length: int, required=True, default="") -> str:
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise self.refused(name, "is required.")
            return default
        if not isinstance(value, str):
            raise self.refused(name, f"must be a string, not {value!r}.")
        value = value.strip()
        if "\x00" in value:
            raise self.refused(name, "holds a NUL character.")
        if required and not value:
            raise self.refused(name, "is required.")
        if len(value) > max_length:
            raise self.refused(name, f"is longer than {max_length} characters.")
        return value

    def choice(self, name: str, choices, *, required=True, default="") -> str:
        value = self.text(name, max_length=50, required=required, default=default)
        allowed = [str(choice) for choice in choices]
        if value and value not in allowed:
            raise self.refused(name, f"{value!r} is not one of {', '.join(allowed)}.")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.refused(name, f"must be true or false, not {value!r}.")
        return value

    def integer(self, name: str) -> int:
        value = self.data.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_INTEGER:
            raise self.refused(
                name, f"must be a whole number from 1 to {MAX_INTEGER}, not {value!r}."
            )
        return value

    def items(self, name: str, *, required=False) -> list:
        value = self.data.get(name)
        if value is None:
            if required:
                raise self.refused(name, "is required.")
            return []
        if not isinstance(value, list):
            raise self.refused(name, "must be a list.")
        return value

    def texts(self, name: str, *, max_length: int) -> list[str]:
        values = self.items(name)
        for index, value in enumerate(values):
            if not isinstance(value, str) or not value.strip() or "\x00" in value:
                message = f"must be a non-empty string, not {value!r}."
                raise self.refused(f"{name}[{index}]", message)
            if len(value.strip()) > max_length:
                raise self.refused(f"{name}[{index}]", f"is longer than {max_length} characters.")
        return [value.strip() for value in values]

    def url_key(self, name: str, key, *, max_length: int = 100):
        """The key the URL names (it wins); a body that names another is a mistake, not a
        rename."""
        if isinstance(key, int):
            if not 1 <= key <= MAX_INTEGER:
                raise self.refused(name, f"must be from 1 to {MAX_INTEGER}, not {key}.")
        elif not key.strip() or len(key) > max_length or "\x00" in key:
            raise self.refused(name, f"the URL's {name} must be 1 to {max_length} characters.")
        value = self.data.get(name)
        if value not in (None, "") and value != key:
            raise self.refused(name, f"{value!r} differs from {key!r} in the URL.")
        return key


def validation_messages(error: ValidationError) -> dict[str, str]:
    """A Django ValidationError as {field: first message}."""
    if hasattr(error, "message_dict"):
        return {name: " ".join(messages) for name, messages in error.message_dict.items()}
    return {"": " ".join(error.messages)}
