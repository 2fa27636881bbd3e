-- reverts 20251001_inventory
DROP TABLE "Inventory";
