-- reverts 20260112_sale_tax
ALTER TABLE "Sale" DROP CONSTRAINT "Sale_taxCents_check";
ALTER TABLE "Sale" DROP COLUMN "taxCents";
