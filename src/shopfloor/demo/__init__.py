"""The demo plant: master data, people and ten production orders with their floor history,
seeded through the services (`seed_demo_plant`) for `shopfloor demo`, tests and trials."""
