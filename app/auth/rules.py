"""The access rules. Every route and socket declares one (`Guard`), and docs/security.md gives
the same table; the role-matrix test checks each route against it for every kind of person."""

from __future__ import annotations

from enum import StrEnum

from app.auth.principal import Principal, Target


class Access(StrEnum):
    PUBLIC = "public"
    """Anyone, signed in or not."""
    ACCOUNT = "account"
    """A facilitator or programme lead signed in with their account."""
    SET_PARTICIPANT = "set_participant"
    """A member or facilitator of the set the route names (directly or by its meeting): what
    is said in a set is seen by its members and facilitators alone."""
    SET_FACILITATOR = "set_facilitator"
    """A facilitator of the set."""
    SET_ADMIN = "set_admin"
    """A facilitator of the set, or a lead of its programme: running the set's membership,
    links and schedule, never its content."""
    PROGRAMME_LEAD = "programme_lead"
    """A lead of the programme the route names (directly or through its set)."""


def allows(rule: Access, who: Principal | None, target: Target) -> bool:
    if rule is Access.PUBLIC:
        return True
    if who is None:
        return False
    match rule:
        case Access.ACCOUNT:
            return who.account
        case Access.SET_PARTICIPANT:
            return target.set_id in who.participates
        case Access.SET_FACILITATOR:
            return target.set_id in who.facilitates
        case Access.SET_ADMIN:
            return target.set_id in who.facilitates or (
                who.account and target.programme_id in who.leads
            )
        case Access.PROGRAMME_LEAD:
            return who.account and target.programme_id in who.leads
    return False
