"""Verifying the chain of decision records, and the signed head operators keep outside the database.

The walk follows the records by position (`sequence`, from 1) and names every finding by position:
a record whose content does not match its HMAC, a gap (records deleted from the middle or the start),
a link to a record that is elsewhere in the chain (reordered), a tail cut off behind the chain head's
back. What the database alone cannot show is a tail deleted together with a head rewound to the new
last record: the records left are a valid chain. An exported head (`decision_head_export`, kept on
write-once storage) shows it: `decisions_verify(against=...)` requires the exported position and HMAC
to still be in the chain. docs/adr/0006-audit-and-monitoring.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from underwriting.decisions import chain
from underwriting.decisions.models import Decision, DecisionChainHead
from underwriting.decisions.services import CONTENT_FIELDS, decision_content, hmac_key

HEAD_FIELDS = ("count", "last_sequence", "last_hmac", "exported_at")


@dataclass(frozen=True)
class ChainProblem:
    sequence: int | None
    decision_id: int | None
    public_id: str
    problem: str

    def __str__(self) -> str:
        return self.problem


@dataclass(frozen=True)
class ExportedHead:
    """A chain head as exported: the chain held `count` records, the last at `last_sequence` with
    HMAC `last_hmac`, at `exported_at`; `signature` is the HMAC key's over those four."""

    count: int
    last_sequence: int
    last_hmac: str
    exported_at: str
    signature: str

    def fields(self) -> dict:
        return {name: getattr(self, name) for name in HEAD_FIELDS}

    def to_json(self) -> str:
        return json.dumps({**self.fields(), "signature": self.signature}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ExportedHead:
        """Raises ValueError when `text` is not an exported head (the signature is checked on use)."""
        data = json.loads(text)
        if not isinstance(data, dict) or set(data) != {*HEAD_FIELDS, "signature"}:
            raise ValueError(f"an exported head has exactly the keys {', '.join(sorted([*HEAD_FIELDS, 'signature']))}")
        if not all(isinstance(data[k], int) and not isinstance(data[k], bool) for k in ("count", "last_sequence")):
            raise ValueError("count and last_sequence must be integers")
        if not all(isinstance(data[k], str) for k in ("last_hmac", "exported_at", "signature")):
            raise ValueError("last_hmac, exported_at and signature must be strings")
        return cls(**data)


class ChainNotIntact(Exception):
    """The chain has findings: no head is exported for it (it would vouch for a tampered chain)."""

    def __init__(self, problems: list[ChainProblem]):
        super().__init__(f"{len(problems)} problem(s) in the decision chain")
        self.problems = problems


def _who(decision: Decision) -> str:
    return f"decision {decision.public_id} (id {decision.pk})"


def _record(sequence: int) -> str:
    return "the start of the chain" if sequence == 0 else f"record {sequence}"


def _span(first: int, last: int) -> str:
    return f"sequence {first}" if first == last else f"sequences {first}-{last}"


@dataclass
class _Walk:
    """The state of one walk along the chain, in position order."""

    key: bytes
    against: ExportedHead | None
    problems: list[ChainProblem] = field(default_factory=list)
    checked: int = 0
    last_sequence: int = 0
    previous: str = chain.GENESIS
    newest_version: int = 0
    seen_against: bool = False

    def report(self, decision: Decision | None, problem: str, sequence: int | None = None) -> None:
        if decision is None:
            self.problems.append(ChainProblem(sequence, None, "", problem))
        else:
            self.problems.append(ChainProblem(decision.sequence, decision.pk, str(decision.public_id), problem))

    def step(self, decision: Decision) -> None:
        self.checked += 1
        expected = self.last_sequence + 1
        if decision.sequence < expected:
            self.report(decision, f"sequence {decision.sequence}: {_who(decision)} repeats a position already "
                                  f"taken (the records were renumbered)")
        elif decision.sequence > expected or decision.previous_hmac != self.previous:
            self._link(decision, expected)
        self._content(decision)
        if self.against is not None and decision.sequence == self.against.last_sequence:
            self.seen_against = True
            if decision.hmac != self.against.last_hmac:
                self.report(decision, f"sequence {decision.sequence}: {_who(decision)} is not the record of the "
                                      f"head exported at {self.against.exported_at} (its HMAC differs: the chain "
                                      f"was rewritten from there)")
        self.previous = decision.hmac
        self.last_sequence = max(self.last_sequence, decision.sequence)

    def _link(self, decision: Decision, expected: int) -> None:
        sequence = decision.sequence
        if sequence > expected:
            finding = (f"{_span(expected, sequence - 1)} missing: record {sequence} "
                       f"(decision {decision.public_id}, id {decision.pk})")
        else:
            finding = f"sequence {sequence}: {_who(decision)}"
        if decision.previous_hmac == self.previous:
            self.report(decision, f"{finding} links to {_record(expected - 1)}, so its position number was altered")
            return
        linked = (Decision.objects.filter(hmac=decision.previous_hmac).values_list("sequence", flat=True).first()
                  if decision.previous_hmac != chain.GENESIS else 0)
        if linked is None:
            replaced = "" if sequence > expected else f", not to {_record(expected - 1)} (a record was replaced)"
            self.report(decision, f"{finding} links to a record that is not there{replaced}")
        else:
            self.report(decision, f"{finding} links to {_record(linked)}, not to {_record(expected - 1)} "
                                  f"(the records were reordered)")

    def _content(self, decision: Decision) -> None:
        sequence, who = decision.sequence, _who(decision)
        if decision.content_version not in CONTENT_FIELDS:
            self.report(decision, f"sequence {sequence}: {who} claims content version {decision.content_version}, "
                                  f"which was never written (the record was altered)")
            return
        if decision.content_version < self.newest_version:
            self.report(decision, f"sequence {sequence}: {who} is content version {decision.content_version} after "
                                  f"version {self.newest_version} records (the record was altered)")
        self.newest_version = max(self.newest_version, decision.content_version)
        if not chain.verify(key=self.key, content=decision_content(decision), previous=decision.previous_hmac,
                            signature=decision.hmac):
            self.report(decision, f"sequence {sequence}: {who}: its content does not match its HMAC "
                                  f"(the record was altered)")


def _head() -> tuple[int, str] | None:
    return DecisionChainHead.objects.filter(pk=1).values_list("last_sequence", "last_hmac").first()


def _check_tail(walk: _Walk, head_before: tuple[int, str] | None, last_hmac: str) -> None:
    """The last record against the chain head. The head is read once before the walk, so every record
    it covers had committed (it moves in the transaction that appends), and once after, so a record
    appended meanwhile is not taken for one beyond a rewound head."""
    last = walk.last_sequence
    if head_before is None:
        if walk.checked:
            walk.report(None, f"the chain head is missing: records 1-{last} are not covered by it")
        return
    head_sequence, head_hmac = head_before
    if head_sequence > last:
        where = f"the last record is sequence {last}" if walk.checked else "there are no records"
        walk.report(None, f"{_span(last + 1, head_sequence)} missing: the chain head records sequence "
                          f"{head_sequence} but {where} (the newest records were deleted)", head_sequence)
    elif head_sequence == last and walk.checked and head_hmac != last_hmac:
        walk.report(None, f"sequence {last}: the chain head's HMAC is not the record's (the head or the record "
                          f"was rewritten)", last)
    head_after = _head()
    if head_after is not None and head_after[0] < last:
        walk.report(None, f"{_span(head_after[0] + 1, last)}: after the chain head, which records sequence "
                          f"{head_after[0]} (the head was rewound)", head_after[0] + 1)


def _check_against(walk: _Walk) -> None:
    against = walk.against
    if against is None or walk.seen_against:
        return
    where = f"the chain ends at sequence {walk.last_sequence}" if walk.checked else "there are no records"
    if against.last_sequence > walk.last_sequence:
        walk.report(None, f"{_span(walk.last_sequence + 1, against.last_sequence)} missing: the head exported at "
                          f"{against.exported_at} records sequence {against.last_sequence} but {where} (the chain "
                          f"was truncated or its head rewound)", against.last_sequence)
    elif against.last_sequence > 0:
        walk.report(None, f"sequence {against.last_sequence} missing: the head exported at {against.exported_at} "
                          f"ends there but no record has that position", against.last_sequence)


def decisions_verify(*, against: ExportedHead | None = None, batch_size: int = 2000) -> tuple[int, list[ChainProblem]]:
    """Walk the chain in position order and return (records checked, findings), each naming positions.

    `against`: an exported head the chain must still contain (its position, with its HMAC); a head
    whose signature does not verify is itself a finding and is not compared."""
    key = hmac_key()
    if against is not None and not chain.verify_head(key=key, head=against.fields(), signature=against.signature):
        bad = against
        against = None
    else:
        bad = None
    walk = _Walk(key=key, against=against)
    if bad is not None:
        walk.report(None, f"the exported head (sequence {bad.last_sequence}, exported at {bad.exported_at}) is not "
                          f"signed with this key: it was edited or comes from elsewhere; not compared")
    head_before = _head()
    while True:
        batch = list(Decision.objects.filter(sequence__gt=walk.last_sequence).order_by("sequence")[:batch_size])
        if not batch:
            break
        for decision in batch:
            walk.step(decision)
    _check_tail(walk, head_before, walk.previous)
    _check_against(walk)
    return walk.checked, walk.problems


def decision_head_export(*, now: datetime) -> ExportedHead:
    """The chain head as of now, signed, for storage outside the database. Raises ChainNotIntact when
    the chain has any finding: an exported head vouches for every record up to it."""
    head = _head() or (0, chain.GENESIS)
    _, problems = decisions_verify()
    if problems:
        raise ChainNotIntact(problems)
    # Records appended during the walk are past `head` (the walk verified them too); the export stays
    # at the head read first, and with no gaps the records up to it number its position.
    fields = {"count": head[0], "last_sequence": head[0], "last_hmac": head[1], "exported_at": now.isoformat()}
    return ExportedHead(**fields, signature=chain.sign_head(key=hmac_key(), head=fields))


def missing_decision_place(decision_id: int) -> str:
    """Where a decision that is no longer there stood, from its neighbours by id (ids and positions
    grow together: both are taken under the chain-head lock)."""
    before = Decision.objects.filter(pk__lt=decision_id).order_by("-pk").values_list("sequence", flat=True).first()
    after = Decision.objects.filter(pk__gt=decision_id).order_by("pk").values_list("sequence", flat=True).first()
    if before is not None and after is not None:
        return (f"sequence {before + 1}" if after == before + 2
                else f"between sequences {before} and {after}")
    if before is not None:
        return f"after sequence {before}, the last record"
    if after is not None:
        return f"before sequence {after}, the first record"
    return "no records are left"
