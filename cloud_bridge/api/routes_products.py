"""Products: the SKUs stock and order lines refer to."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select

from cloud_bridge.api.dependencies import TransactionsDep
from cloud_bridge.api.error_handlers import errors_documented
from cloud_bridge.api.errors import ConflictError
from cloud_bridge.api.schemas import ProductIn, ProductOut
from cloud_bridge.api.transaction import Unit
from cloud_bridge.api.views import product_view
from cloud_bridge.db.models import Product

__all__ = ["router"]

router = APIRouter(tags=["products"])


@router.post(
    "/products",
    status_code=status.HTTP_201_CREATED,
    summary="Create a product",
    description="Adds a SKU with its GTIN (check digit verified), pack size, matching Sage "
    "item, description and list price. SKU and GTIN must both be new.",
    responses=errors_documented(409),
)
async def post_product(body: ProductIn, transactions: TransactionsDep) -> ProductOut:
    def work(unit: Unit) -> ProductOut:
        session = unit.session
        if session.get(Product, body.sku) is not None:
            raise ConflictError("sku", "a new SKU", f"product {body.sku!r} already exists")
        if body.gtin is not None:
            owner = session.scalar(select(Product.sku).where(Product.gtin == body.gtin))
            if owner is not None:
                raise ConflictError(
                    "gtin", "a GTIN no other product has", f"GTIN {body.gtin} is product {owner!r}"
                )
        product = Product(**body.model_dump())
        session.add(product)
        session.flush()
        return product_view(product)

    return await transactions.run(work)
