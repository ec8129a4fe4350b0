"""The web dashboard: server-rendered pages (Jinja2) with live updates over Server-Sent Events.

Mounted by :func:`peergrid.service.app.create_app` through :func:`mount` (an optional
extension; routes in :mod:`~peergrid.service.dashboard.routes`). Pages:

* ``/login`` — a form; logging in sets the service's HTTP-only session cookie, so the
  pages and ``/api`` share one session. ``/logout`` revokes it.
* ``/dashboard`` — picks the first community of the user and the view of their role.
* ``/dashboard/c/{cid}/me`` — member view: live power and today's energy, open orders
  (and a form to place one), trades, wallet balance and ledger history, invoices (PDF),
  savings vs grid-only (:func:`peergrid.service.reports.user_report`).
* ``/dashboard/c/{cid}/community`` — operator view: live community net load and P2P
  share, p-MAS peak-load class (Lange), clearing results per interval, members with
  reputation, silent-meter alerts, and reports with plots.
* ``/dashboard/c/{cid}/events`` — ``text/event-stream``: a ``live`` event whenever new
  readings change the numbers (polled every :data:`SSE_POLL_S` s), so a reading published
  over MQTT shows within about a second.

Everything (CSS, the SVG chart script) is served from ``/dashboard/static``: nothing is
loaded from a CDN. Members only ever see their own data: every query is filtered by
the logged-in user unless their role is operator or admin (:func:`peergrid.service.rbac.sees_everyone`).
"""

from peergrid.service.dashboard.routes import mount

__all__ = ["mount"]
