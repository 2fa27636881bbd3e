-- 20251020_sales
CREATE TABLE "Sale" (id SERIAL PRIMARY KEY, "createdAt" TIMESTAMPTZ NOT NULL DEFAULT now(), "totalCents" INT NOT NULL);
CREATE INDEX "Sale_createdAt_idx" ON "Sale"("createdAt");
