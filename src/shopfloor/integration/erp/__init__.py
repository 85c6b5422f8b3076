"""ERP adapters: one interface (`ports.ErpAdapter`), one implementation per ERP, found
through the `shopfloor.erp_adapters` entry-point group so a plant can add its own."""
