"""AI systems, their model versions (with model-card fields), and the risk register."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from escalade.storage._upsert import upsert
from escalade.storage.schema import ai_systems, model_versions, risks


def put_system(conn: Connection, row: dict[str, Any]) -> None:
    upsert(conn, ai_systems, ["id"], row)


def put_model(conn: Connection, row: dict[str, Any]) -> None:
    upsert(conn, model_versions, ["model", "version"], row)


def systems(conn: Connection) -> list[dict[str, Any]]:
    return [_system(r) for r in conn.execute(select(ai_systems).order_by(ai_systems.c.id))]


def system(conn: Connection, system_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(ai_systems).where(ai_systems.c.id == system_id)).first()
    if row is None:
        return None
    models = conn.execute(
        select(model_versions)
        .where(model_versions.c.system_id == system_id)
        .order_by(model_versions.c.model, model_versions.c.registered_at)
    )
    return {**_system(row), "models": [_model(m) for m in models]}


def model_card(conn: Connection, model: str, version: str | None) -> dict[str, Any] | None:
    """The card of `model` at `version`, or its latest registered version."""
    query = select(model_versions).where(model_versions.c.model == model)
    if version:
        query = query.where(model_versions.c.version == version)
    row = conn.execute(query.order_by(model_versions.c.registered_at.desc()).limit(1)).first()
    return _model(row) if row else None


def add_risk(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(risks.insert().values(**row))


def risk_register(conn: Connection, incident_id: str | None = None) -> list[dict[str, Any]]:
    query = select(risks).order_by(risks.c.created_at)
    if incident_id:
        query = query.where(risks.c.incident_id == incident_id)
    return [
        {**{str(k): getattr(r, k) for k in r._fields}, "created_at": r.created_at.isoformat()}
        for r in conn.execute(query)
    ]


def _system(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "owner": row.owner,
        "description": row.description,
        "updated_at": _iso(row.updated_at),
    }


def _model(row: Any) -> dict[str, Any]:
    return {
        "model": row.model,
        "version": row.version,
        "system_id": row.system_id,
        "owner": row.owner,
        **row.card,
        "registered_at": _iso(row.registered_at),
    }


def _iso(value: datetime) -> str:
    return value.isoformat()
