"""The application keys the handlers find the components under (set by the wiring)."""

from __future__ import annotations

from aiohttp import web

from ..checkout.balances import Balances
from ..checkout.coupons import Coupons
from ..checkout.customers import Customers
from ..checkout.estimates import Estimator
from ..checkout.history import History
from ..checkout.holds import Holds
from ..checkout.inspection import OutboxView
from ..checkout.points import Points
from ..checkout.sales import Sales
from ..status import Status
from .metrics import Metrics

estimator_key = web.AppKey("estimator", Estimator)
holds_key = web.AppKey("holds", Holds)
balances_key = web.AppKey("balances", Balances)
history_key = web.AppKey("history", History)
sales_key = web.AppKey("sales", Sales)
points_key = web.AppKey("points", Points)
customers_key = web.AppKey("customers", Customers)
coupons_key = web.AppKey("coupons", Coupons)
outbox_view_key = web.AppKey("outbox_view", OutboxView)
status_key = web.AppKey("status", Status)
metrics_key = web.AppKey("metrics", Metrics)
