"""One example request body per operation of the local API, for /openapi.json: what a POS
developer copies first, so each is a real request the sidecar accepts."""

from __future__ import annotations

from typing import Any

EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/estimate-points"): {
        "customerId": "cust-1001",
        "totalPaid": 120,
        "paymentDetails": [{"serviceId": "latte", "amount": 120}],
    },
    ("post", "/v1/hold-and-redeem"): {
        "customerId": "cust-1001",
        "checkoutId": "till1-0001",
        "amount": 10,
    },
    ("post", "/v1/finalize-payment"): {
        "customerId": "cust-1001",
        "paymentId": "till1-sale-0001",
        "totalPaid": 110,
        "redemption": {"pointsHoldReference": "<holdReference>"},
    },
    ("post", "/v1/finalize-order"): {
        "customerId": "cust-1001",
        "orderId": "till1-order-0001",
        "totalPaid": 90,
        "totalPrice": 100,
        "lineItems": [{"productId": "mug-01", "sku": "MUG-01", "quantity": 2, "price": 50}],
        "redemption": {"pointsHoldReference": "<holdReference>"},
    },
    ("post", "/v1/refund"): {
        "orderId": "till1-order-0001",
        "refundId": "till1-refund-0001",
        "lineItems": [{"productId": "mug-01", "quantity": 1}],
    },
    ("post", "/v1/finalize-cashback"): {
        "customerId": "cust-1001",
        "transactionId": "till1-cb-0001",
        "amount": 25,
    },
    ("post", "/v1/manual-points"): {
        "customerId": "cust-1001",
        "transactionId": "till1-goodwill-0001",
        "username": "manager.amal",
        "reason": "Late delivery apology",
        "points": 50,
    },
    ("put", "/v1/customers/{customerId}"): {
        "email": "shopper@example.com",
        "referrerCode": "FRIEND123",
        "customerAttributes": {"displayName": "Sam", "preferredLanguage": "en"},
    },
    ("post", "/v1/coupons/validate"): {
        "customerId": "cust-1001",
        "coupons": ["SAVE10"],
        "totalPurchaseAmount": 100,
        "lock": True,
    },
    ("post", "/v1/outbox/{id}/discard"): {"reason": "duplicate sale, voided at the till"},
}
