DROP TABLE "AuditLog";
