"""The peergrid trading platform service (FastAPI + SQLAlchemy 2 + Alembic).

Entry points: :func:`peergrid.service.app.create_app`, ``peergrid serve`` and
``peergrid ledger verify``. See ``docs/service.md``.
"""
