-- reverts 20250915_products
DROP TABLE "Product";
