"""The telephony gateway's 32 requests (seed 004): what each accepts and the Mango body it makes.

Each model takes the seed's parameter names and Mango's own (`from_ext` or `from_extension`,
`to_num` or `to_number`, `line` or `line_number`, `sender` or `sms_sender`, `num_id` or
`number_id`, `num_type` or `number_type`, `members_ids` or `abonent_ids`, ...), from JSON or form
data (where a form cannot nest, a list or an object is JSON text, and a list of names may be
comma-separated), and checks everything Mango would refuse before anything is sent: Mango locks
the account out for two minutes after more than one 3xxx error in two minutes. `payload()` is the
body in Mango's names. `ENDPOINTS` maps each of our paths to its model and Mango path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from server.gateways.mango_protocol import DEFAULT_STATS_FIELDS, SMS_COMMAND_PREFIX, STATS_FIELDS, sms_too_long

MAX_ID_BYTES = 128  # command_id, request_id, to_number
MAX_STATS_SECONDS = 31 * 24 * 3600  # a month
MAX_ROWS = 500
_NUMBER = re.compile(r"\+?[0-9]{3,20}|sip:[^\s@:]+@[^\s@]+")
_DIALABLE = re.compile(r"\+?[0-9]{2,20}|sip:[^\s@:]+@[^\s@]+")  # an extension, a group's number or a phone number
_EXTENSION = re.compile(r"[0-9]{1,16}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BLANK = " \t\n\r"  # what a number may carry around it (as the document's patterns say)


def _bytes_at_most(limit: int):
    def check(value: str) -> str:
        if len(value.encode()) > limit:
            raise ValueError(f"At most {limit} bytes (UTF-8); this is {len(value.encode())}.")
        return value
    return check


def _id(value: Any) -> Any:
    """An id of Mango's or the caller's: text, one line, at most MAX_ID_BYTES."""
    if not isinstance(value, str):
        raise ValueError("Must be text.")
    _one_line(value)
    return _bytes_at_most(MAX_ID_BYTES)(value)


def _dialable(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _DIALABLE.fullmatch(value.strip(_BLANK)):
        raise ValueError("Not a number to dial: an extension, a group's number or a phone number "
                         "(2 to 20 digits, + first at most) or a sip: address.")
    return _bytes_at_most(MAX_ID_BYTES)(value.strip(_BLANK))


def _one_line(value: Any) -> Any:
    if isinstance(value, str) and _CONTROL.search(value):
        raise ValueError("Must be one line of text, without control characters.")
    return value


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and re.search(r"[\x00-\x08\x0b-\x1f\x7f]", value):
        raise ValueError("Must not hold control characters (line breaks and tabs are fine).")
    return value


def _number(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and not _NUMBER.fullmatch(value.strip(_BLANK)):
        raise ValueError("Not a phone number (digits, + first at most, 3 to 20 of them) or a sip: address.")
    return value.strip(_BLANK) if isinstance(value, str) else value


def _extension(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and not _EXTENSION.fullmatch(value.strip(_BLANK)):
        raise ValueError("Not an extension (1 to 16 digits).")
    return value.strip(_BLANK) if isinstance(value, str) else value


def _json_text(value: Any) -> Any:
    """A list or an object sent as form data arrives as its JSON text."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError("Not valid JSON.") from None
    return value


def _names(value: Any) -> Any:
    value = _json_text(value)
    if value is None:
        return value
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    return value


def _flag(value: Any) -> Any:
    """0/1 as Mango writes flags; true/false and "0"/"1" too."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
        return int(value.strip().lower() in ("1", "true"))
    return value


def _alias(*names: str) -> Any:
    return AliasChoices(*names)


Text = Annotated[str, BeforeValidator(_one_line), Field(min_length=1)]
Id = Annotated[str, BeforeValidator(_id), Field(min_length=1)]
Number = Annotated[str, BeforeValidator(_number)]
Extension = Annotated[str, BeforeValidator(_extension)]
Target = Annotated[str, BeforeValidator(_dialable)]
Count = Annotated[int, Field(ge=0, le=2**63 - 1)]
Flag = Annotated[Literal[0, 1], BeforeValidator(_flag)]
Names = Annotated[list[Text], BeforeValidator(_names)]
UnixTime = Annotated[int, Field(ge=0, le=2**40)]


def _sip_headers(value: Any) -> Any:
    value = _json_text(value)
    if isinstance(value, dict):
        for name, header in value.items():
            if not isinstance(header, str):
                raise ValueError(f"Header {name!r}: must be text.")
            if len(header.encode()) > 64:
                raise ValueError(f"Header {name!r}: at most 64 bytes.")
    return value


SipHeaders = Annotated[dict[str, str], BeforeValidator(_sip_headers)]


class Request(BaseModel):
    """A gateway request. `payload()` is Mango's body: its names, what was given."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    def payload(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Command(Request):
    """A command (`commands/...`): its `command_id` is the caller's, or Herald makes one."""

    command_id: Id | None = None

    @field_validator("command_id")
    @classmethod
    def _not_reserved(cls, command_id: str | None) -> str | None:
        if command_id is not None and command_id.startswith(SMS_COMMAND_PREFIX):
            raise ValueError(f"command_ids beginning with {SMS_COMMAND_PREFIX!r} are the mailings' SMS; choose another.")
        return command_id


class Party(BaseModel):
    """Mango's `from`/`to`/`call_party` object: an extension or a number."""

    model_config = ConfigDict(extra="forbid")
    extension: Extension | None = None
    number: Number | None = None

    @model_validator(mode="after")
    def _one(self) -> Party:
        if self.extension is None and self.number is None:
            raise ValueError("Give an extension or a number.")
        return self


class SendSms(Command):
    text: Annotated[str, BeforeValidator(_no_nul), Field(min_length=1)]
    from_extension: Extension = Field(validation_alias=_alias("from_extension", "from_ext"))
    to_number: Number = Field(validation_alias=_alias("to_number", "number", "to_num"))
    sms_sender: Text | None = Field(None, validation_alias=_alias("sms_sender", "sender"))

    @field_validator("text")
    @classmethod
    def _length(cls, text: str) -> str:
        if (problem := sms_too_long(text)) is not None:
            raise ValueError(problem)
        return text


class Callback(Command):
    from_: Party | None = Field(None, validation_alias=_alias("from"))
    from_ext: Extension | None = Field(None, exclude=True)
    from_num: Number | None = Field(None, exclude=True)
    to_number: Number = Field(validation_alias=_alias("to_number", "to_num"))
    line_number: Text | None = Field(None, validation_alias=_alias("line_number", "line"))
    sip_headers: SipHeaders | None = Field(None, validation_alias=_alias("sip_headers", "sip_head"))

    @model_validator(mode="after")
    def _caller(self) -> Callback:
        if self.from_ is None:
            if self.from_ext is None:
                raise ValueError("from: required, as {\"extension\": ...} or the seed's from_ext.")
            self.from_ = Party(extension=self.from_ext, number=self.from_num)
        if self.from_.extension is None:
            raise ValueError("from.extension: the employee who calls back is required.")
        return self

    def payload(self) -> dict[str, Any]:
        body = super().payload()
        body["from"] = body.pop("from_")
        return body


class GroupCallback(Command):
    from_: Target = Field(validation_alias=_alias("from", "from_ext"))
    to: Target = Field(validation_alias=_alias("to", "to_num", "to_number"))
    line_number: Target = Field(validation_alias=_alias("line_number", "line"))

    def payload(self) -> dict[str, Any]:
        body = super().payload()
        body["from"] = body.pop("from_")
        return body


class Hangup(Command):
    call_id: Id


class StartRecording(Command):
    call_id: Id
    call_party_number: Target


class StartPlay(Command):
    call_id: Id
    internal_id: Count
    after_play_time: Count | None = None


class Route(Command):
    call_id: Id
    to_number: Target
    sip_headers: SipHeaders | None = Field(None, validation_alias=_alias("sip_headers", "sip_head"))


class Transfer(Command):
    call_id: Id
    to_number: Target
    method: Literal["blind", "hold"]
    initiator: Target


class Stats(Request):
    """stats/request: a period of at most a month in unix seconds, the columns, one filter."""

    date_from: UnixTime
    date_to: UnixTime
    fields: Annotated[Names, BeforeValidator(lambda value: list(DEFAULT_STATS_FIELDS) if value is None else value)] \
        = list(DEFAULT_STATS_FIELDS)
    request_id: Id | None = None
    party: ClassVar[str]  # the filter this endpoint takes: `to`, `from` or `call_party`

    @field_validator("fields")
    @classmethod
    def _known(cls, fields: list[str]) -> list[str]:
        unknown = [name for name in fields if name not in STATS_FIELDS]
        if unknown:
            raise ValueError(f"Unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(STATS_FIELDS))}.")
        if len(set(fields)) != len(fields):
            raise ValueError("A field is named twice.")
        if not fields:
            raise ValueError("Name at least one field.")
        return fields

    @model_validator(mode="after")
    def _period(self) -> Stats:
        if self.date_from >= self.date_to:
            raise ValueError("date_from: must be before date_to.")
        if self.date_to - self.date_from > MAX_STATS_SECONDS:
            raise ValueError("date_to: at most a month (31 days) after date_from.")
        return self

    def filter(self) -> Party:
        raise NotImplementedError

    def payload(self) -> dict[str, Any]:
        body = {"date_from": self.date_from, "date_to": self.date_to, "fields": ",".join(self.fields)}
        party = self.filter().model_dump(exclude_none=True)
        body[self.party] = party
        if self.request_id is not None:
            body["request_id"] = self.request_id
        return body


def _stats(name: str) -> type[Stats]:
    """The stats request filtered by `name` (`to`, `from`, `call_party`): Mango's object, or the
    seed's `<name>_ext` / `<name>_num`."""
    party = name

    class PartyStats(Stats):
        party: ClassVar[str] = name
        given: Party | None = Field(None, validation_alias=_alias(party), exclude=True)
        ext: Extension | None = Field(None, validation_alias=_alias(f"{party}_ext", f"{party}_extension"),
                                      exclude=True)
        num: Number | None = Field(None, validation_alias=_alias(f"{party}_num", f"{party}_number"), exclude=True)

        @model_validator(mode="after")
        def _filter(self) -> PartyStats:
            if self.given is None:
                if self.ext is None and self.num is None:
                    raise ValueError(f"{party}: required, as {{\"extension\"}} or {{\"number\"}}, or the seed's "
                                     f"{party}_ext / {party}_num.")
                self.given = Party(extension=self.ext, number=self.num)
            return self

        def filter(self) -> Party:
            return self.given

    PartyStats.__name__ = PartyStats.__qualname__ = f"Stats_{party}"
    return PartyStats


class DctNumber(Request):
    number: Number


class Users(Request):
    extension: Extension | None = None
    ext_fields: Names | None = None


class Groups(Request):
    group_id: Count | None = None
    operator_id: Count | None = None
    operator_extension: Extension | None = None
    show_users: Flag | None = None


class Nothing(Request):
    """Queries without parameters: Mango gets `{}` whatever else was sent."""

    def payload(self) -> dict[str, Any]:
        return {}


class SetSchema(Request):
    schema_id: Count = Field(validation_alias=_alias("schema_id", "schema"))
    line_id: Count | None = Field(None, validation_alias=_alias("line_id", "line"))
    trunk_number_id: Count | None = Field(None, validation_alias=_alias("trunk_number_id", "trunk"))

    @model_validator(mode="after")
    def _target(self) -> SetSchema:
        if self.line_id is None and self.trunk_number_id is None:
            raise ValueError("line_id: give the line (or trunk_number_id) to set the schema on.")
        return self


class Schemas(Request):
    ext_fields: Names | None = None


class AddToList(Request):
    number: Annotated[str, BeforeValidator(_one_line), Field(min_length=1, max_length=128)]
    list_type: Literal["black", "white"]
    number_type: Literal["tel", "sip"] = Field(validation_alias=_alias("number_type", "num_type"))
    comment: Annotated[str, BeforeValidator(_one_line), Field(max_length=255)] | None = None

    @model_validator(mode="after")
    def _number_of_type(self) -> AddToList:
        try:
            if self.number_type == "tel":
                self.number = _number(self.number)
            elif not re.fullmatch(r"(sip:)?[^\s@:]+@[^\s@:]+", self.number.strip()):
                raise ValueError("A sip number is an address, user@domain.")
            else:
                self.number = self.number.strip()
        except ValueError as exc:
            raise ValueError(f"number: {exc}") from None
        return self


class DeleteFromList(Request):
    number_id: Count = Field(validation_alias=_alias("number_id", "num_id"))


class Campaign(Request):
    campaign_id: Count
    need_tasks: Flag | None = None


class SortRule(BaseModel):
    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _one_field(self) -> SortRule:
        rule = self.model_extra or {}
        if len(rule) != 1 or next(iter(rule.values())) not in ("asc", "desc"):
            raise ValueError('Each rule is {"<field>": "asc" | "desc"}.')
        return self


class Contacts(Request):
    query: Annotated[str, BeforeValidator(_one_line)]
    limit_rows: Annotated[int, Field(ge=1, le=MAX_ROWS)] | None = None
    order: Annotated[list[SortRule], BeforeValidator(_json_text)] | None = None
    contact_ext_fields: Flag | None = None

    def payload(self) -> dict[str, Any]:
        body = super().payload()
        if self.order is not None:
            body["order"] = [rule.model_extra for rule in self.order]
        return body


class Deals(Request):
    status: Literal["in_work", "succeed", "failed", "delete"]
    from_date: date | None = None
    until_date: date | None = None
    abonent_ids: Annotated[list[Count], BeforeValidator(_json_text)] | None = Field(
        None, validation_alias=_alias("abonent_ids", "members_ids"))
    contact_id: Count | None = None
    product_id: Count | None = None

    @model_validator(mode="after")
    def _period(self) -> Deals:
        if self.from_date and self.until_date and self.from_date > self.until_date:
            raise ValueError("from_date: must not be after until_date.")
        return self

    def payload(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, mode="json")


class Funnels(Request):
    product_id: Count | None = None


@dataclass(frozen=True)
class Endpoint:
    """One of the seed's endpoints: our path, Mango's path under its product's base URL (`vpbx`
    or `cc`), and the request it takes."""

    path: str
    mango_path: str
    request: type[Request]
    method: str = "POST"
    product: str = "vpbx"

    @property
    def is_command(self) -> bool:
        return issubclass(self.request, Command)

    @property
    def is_stats(self) -> bool:
        return issubclass(self.request, Stats)


ENDPOINTS = (
    Endpoint("/send_sms", "commands/sms", SendSms),
    Endpoint("/callback", "commands/callback", Callback),
    Endpoint("/group_callback", "commands/callback_group", GroupCallback),
    Endpoint("/end_call", "commands/call/hangup", Hangup),
    Endpoint("/start_record", "commands/recording/start", StartRecording),
    Endpoint("/start_play", "commands/play/start", StartPlay),
    Endpoint("/route_call", "commands/route", Route),
    Endpoint("/transfer_call", "commands/transfer", Transfer),
    Endpoint("/get_stats_to", "stats/request", _stats("to")),
    Endpoint("/get_stats_from", "stats/request", _stats("from")),
    Endpoint("/get_stats_call_party", "stats/request", _stats("call_party")),
    Endpoint("/get_dct_user_info", "queries/user_info_by_dct_number", DctNumber),
    Endpoint("/get_dct_user_history", "queries/user_history_by_dct_number", DctNumber),
    Endpoint("/user_list", "config/users/request", Users),
    Endpoint("/group_list", "groups", Groups),
    Endpoint("/balance", "account/balance", Nothing),
    Endpoint("/lines", "incominglines", Nothing),
    Endpoint("/audio", "audiofiles", Nothing),
    Endpoint("/set_schema", "schema/set", SetSchema),
    Endpoint("/get_ext_field", "schemas", Schemas),
    Endpoint("/roles", "roles", Nothing),
    Endpoint("/sips_list", "sips", Nothing),
    Endpoint("/domains_list", "domains", Nothing),
    Endpoint("/trunk_num_list", "trunks/numbers", Nothing),
    Endpoint("/bwlist_state", "bwlists/state/", Nothing),
    Endpoint("/bwlist_nums", "bwlists/numbers/", Nothing),
    Endpoint("/add_bwlist", "bwlists/number/add/", AddToList),
    Endpoint("/delete_bwlist", "bwlists/number/delete/", DeleteFromList, method="DELETE"),
    Endpoint("/campaign_info", "campaign", Campaign),
    Endpoint("/ab_contact_init", "ab/contact/init", Contacts),
    Endpoint("/cc_deal_list", "deal/list", Deals, product="cc"),
    Endpoint("/cc_deal_funnels_list", "deal/funnels.list", Funnels, product="cc"),
)
