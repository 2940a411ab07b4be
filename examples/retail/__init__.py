"""A small retail lakehouse: generated customers, products and orders, bronze → silver → gold."""
