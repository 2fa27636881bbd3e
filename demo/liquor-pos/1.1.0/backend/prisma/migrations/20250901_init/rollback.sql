-- reverts 20250901_init
DROP TABLE "Store";
