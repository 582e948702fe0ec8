"""django-q2 tasks: thin wrappers that take ids and call a service."""

from __future__ import annotations

from patrons import services


def resolve_submission(submission_id: int) -> str:
    return services.resolve_submission(submission_id=submission_id)


def recover_stalled_submissions() -> dict[str, int]:
    return services.recover_stalled_submissions()
