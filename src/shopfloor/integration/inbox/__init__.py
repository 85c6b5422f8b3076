"""The ERP inbox: what ERP plans (items, BOM and routing versions, production orders),
received once per message id, applied through the same services as every other route in,
kept waiting while what it refers to has not arrived. Owns `int_inbox_document` and
`int_erp_cursor` (where each pull of ERP stands)."""
