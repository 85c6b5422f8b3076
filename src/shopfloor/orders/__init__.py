"""Production orders received from ERP (or opened on the floor as unplanned work): the two
statuses kept apart (ERP business status, MES execution status), the operations expanded
from the routing version, the execution BOM expanded from the BOM version, release to the
floor and the dispatch list per work center."""
