"""Master data: the ISA-95 equipment hierarchy, items and units with conversions, versioned
BOMs and routings (cached from ERP), and the MES-owned directories: shifts and calendars,
crews, skills and certifications, downtime reasons, scrap/defect/rework codes."""
