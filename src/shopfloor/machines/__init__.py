"""Machines: what the equipment on the floor is doing and how well it is used.

Owns equipment states (running, idle starved/blocked, down, setup, planned stop, offline)
derived from machine signals, the machine counters turned into counts, downtime detection
and classification, the downtime Pareto, and OEE with its six big losses and TEEP — per
equipment, line, shift, product, order and day. The rules live in `machines.domain`, pure
and tested without a database; ingest (MQTT/Sparkplug B, OPC UA) hands batches to them.
"""
