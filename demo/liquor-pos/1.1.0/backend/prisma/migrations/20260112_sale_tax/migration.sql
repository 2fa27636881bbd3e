-- 20260112_sale_tax
-- Each sale keeps the Florida sales tax it charged (7 %, counties' surtax included), so the
-- stores' tax reports no longer recompute it from totals. Existing sales get theirs from the
-- total they were rung up with.
ALTER TABLE "Sale" ADD COLUMN "taxCents" INT;
UPDATE "Sale" SET "taxCents" = round("totalCents" * 7 / 107.0);
ALTER TABLE "Sale" ALTER COLUMN "taxCents" SET NOT NULL;
ALTER TABLE "Sale" ADD CONSTRAINT "Sale_taxCents_check" CHECK ("taxCents" >= 0);
