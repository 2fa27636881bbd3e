-- reverts 20251020_sales
DROP TABLE "Sale";
