-- 20251001_inventory
CREATE TABLE "Inventory" (id SERIAL PRIMARY KEY, "productId" INT NOT NULL REFERENCES "Product"(id), "storeId" INT NOT NULL REFERENCES "Store"(id), quantity INT NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX "Inventory_productId_storeId_key" ON "Inventory"("productId", "storeId");
